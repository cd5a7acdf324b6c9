//! Did-you-mean: the closest known name to a misspelt one, for the help lines of diagnostics.

/// The closest candidate to `word` by edit distance, if close enough to be a plausible typo.
pub fn suggest<'a, I, S>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str> + 'a,
{
    let mut best: Option<(usize, String)> = None;
    for candidate in candidates {
        let candidate = candidate.as_ref();
        let distance = edit_distance(word, candidate);
        let limit = (word.len().max(candidate.len()) / 3).max(1);
        if distance <= limit && best.as_ref().is_none_or(|(d, _)| distance < *d) {
            best = Some((distance, candidate.to_string()));
        }
    }
    best.map(|(_, s)| s)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            suggest("lisen", ["listen", "workers"]).as_deref(),
            Some("listen")
        );
        assert_eq!(
            suggest("chunksize", ["chunk-size", "gop-cache"]).as_deref(),
            Some("chunk-size")
        );
        assert_eq!(suggest("zzz", ["listen", "workers"]), None);
    }
}

//! An `exec` command line split into words as a POSIX shell would, without running a shell: blanks
//! separate words, `'…'` keeps everything literally, `"…"` keeps blanks and takes `\` before
//! `"`, `\`, `$` and `` ` ``, a bare `\` quotes the next character. No expansions (`$VAR`, globs,
//! `~`): the placeholders are expanded per word afterwards, so a stream name can never split a word
//! or inject one. Sans-IO.

/// Why a command line could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("unterminated quote in the command line")]
    UnterminatedQuote,
    #[error("the command line ends with a lone backslash")]
    TrailingBackslash,
    #[error("the command line is empty")]
    Empty,
}

/// The words of `line`.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once anything (even `''`) was read for it.
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if std::mem::take(&mut in_word) {
                    words.push(std::mem::take(&mut word));
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnterminatedQuote),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(ok("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(
            ok("sh -c 'echo {stream} > f; sleep 1'"),
            ["sh", "-c", "echo {stream} > f; sleep 1"]
        );
        assert_eq!(
            ok(r#"x "a b" "q\"uote" "\n""#),
            ["x", "a b", "q\"uote", "\\n"]
        );
        assert_eq!(ok(r"a\ b c\\d"), ["a b", "c\\d"]);
        assert_eq!(ok("a '' b"), ["a", "", "b"]);
        assert_eq!(ok("pre'mid'\"post\""), ["premidpost"]);
        assert_eq!(ok("  lead trail  "), ["lead", "trail"]);
        assert_eq!(ok("$HOME ~ *"), ["$HOME", "~", "*"]);
    }

    #[test]
    fn refuses_broken_lines() {
        assert_eq!(split("a 'b"), Err(SplitError::UnterminatedQuote));
        assert_eq!(split("a \"b"), Err(SplitError::UnterminatedQuote));
        assert_eq!(split("a \\"), Err(SplitError::TrailingBackslash));
        assert_eq!(split("   "), Err(SplitError::Empty));
        assert_eq!(split(""), Err(SplitError::Empty));
    }
}

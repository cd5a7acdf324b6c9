//! One `/metrics` page for a whole topology: every role's page with a `role` label, merged family
//! by family (the Prometheus text format wants each family's samples together under one `# TYPE`),
//! plus what the supervisor knows of each role.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One metric family gathered from several pages.
#[derive(Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<String>,
}

/// The pages merged: `(role, page)` in role order.
#[derive(Default)]
pub struct Merged {
    families: BTreeMap<String, Family>,
}

impl Merged {
    /// Add one role's page; each sample gets `role="ROLE"` unless it already has a `role` label.
    pub fn add(&mut self, role: &str, page: &str) {
        let mut current: Option<String> = None;
        for line in page.lines() {
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                let family = self.families.entry(name.to_string()).or_default();
                family.help.get_or_insert_with(|| help.to_string());
                current = Some(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
                let family = self.families.entry(name.to_string()).or_default();
                family.kind.get_or_insert_with(|| kind.to_string());
                current = Some(name.to_string());
            } else if line.is_empty() || line.starts_with('#') {
                continue;
            } else {
                let sample_name = line.split(['{', ' ']).next().unwrap_or(line);
                // Histogram and summary samples (`_bucket`, `_sum`, `_count`) follow their TYPE.
                let family = match &current {
                    Some(name) if sample_name.starts_with(name.as_str()) => name.clone(),
                    _ => sample_name.to_string(),
                };
                self.families
                    .entry(family)
                    .or_default()
                    .samples
                    .push(with_role(line, sample_name, role));
            }
        }
    }

    /// A gauge or counter the shell itself knows, for one role.
    pub fn own(&mut self, name: &str, kind: &str, help: &str, role: &str, value: f64) {
        let family = self.families.entry(name.to_string()).or_default();
        family.help.get_or_insert_with(|| help.to_string());
        family.kind.get_or_insert_with(|| kind.to_string());
        family
            .samples
            .push(format!("{name}{{role=\"{}\"}} {value}", escape(role)));
    }

    /// The merged page.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, family) in &self.families {
            if let Some(help) = &family.help {
                let _ = writeln!(out, "# HELP {name} {help}");
            }
            if let Some(kind) = &family.kind {
                let _ = writeln!(out, "# TYPE {name} {kind}");
            }
            for sample in &family.samples {
                let _ = writeln!(out, "{sample}");
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `line` (a sample named `name`) with `role="ROLE"` added first among its labels.
fn with_role(line: &str, name: &str, role: &str) -> String {
    let rest = &line[name.len()..];
    let role = escape(role);
    if let Some(labels) = rest.strip_prefix('{') {
        if labels.starts_with("role=\"") || labels.contains(",role=\"") {
            return line.to_string();
        }
        if labels.starts_with('}') {
            return format!("{name}{{role=\"{role}\"{labels}");
        }
        return format!("{name}{{role=\"{role}\",{labels}");
    }
    format!("{name}{{role=\"{role}\"}}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_merged_once_with_a_role_label_on_every_sample() {
        let mut merged = Merged::default();
        merged.add(
            "worker/a",
            "# HELP oryx_streams Streams.\n# TYPE oryx_streams gauge\noryx_streams 2\n\
             # TYPE oryx_bytes_total counter\noryx_bytes_total{dir=\"in\"} 10\n",
        );
        merged.add(
            "worker/b",
            "# HELP oryx_streams Streams.\n# TYPE oryx_streams gauge\noryx_streams 3\n\
             # TYPE oryx_plan_info gauge\noryx_plan_info{digest=\"x\",role=\"worker/b\"} 1\n\
             # TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_sum 0.5\nlat_count 1\n",
        );
        merged.own("oryx_shell_role_ready", "gauge", "Ready.", "worker/a", 1.0);
        let page = merged.render();
        assert_eq!(
            page.matches("# TYPE oryx_streams gauge").count(),
            1,
            "{page}"
        );
        assert!(page.contains(
            "# TYPE oryx_streams gauge\noryx_streams{role=\"worker/a\"} 2\noryx_streams{role=\"worker/b\"} 3\n"
        ));
        assert!(page.contains("oryx_bytes_total{role=\"worker/a\",dir=\"in\"} 10"));
        // A sample that names its role already keeps it as it is.
        assert!(page.contains("oryx_plan_info{digest=\"x\",role=\"worker/b\"} 1"));
        assert!(page.contains(
            "# TYPE lat histogram\nlat_bucket{role=\"worker/b\",le=\"1\"} 1\nlat_sum{role=\"worker/b\"} 0.5\nlat_count{role=\"worker/b\"} 1\n"
        ));
        assert!(page.contains("oryx_shell_role_ready{role=\"worker/a\"} 1"));
    }
}

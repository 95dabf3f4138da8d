//! The configurations under test are include files: empty for PostgreSQL's defaults, the text
//! of `pgcache-tune recommend` for the advice, and the advice with one line replaced
//! (`--set`, huge pages on) or removed (attribution). Pure text functions.

/// `name` of a `name = value` line, if the line is one.
pub fn setting_name(line: &str) -> Option<&str> {
    let (name, _) = line.split_once('=')?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    ok.then_some(name)
}

/// Names of the settings in a snippet, in order.
pub fn setting_names(snippet: &str) -> Vec<String> {
    snippet
        .lines()
        .filter_map(setting_name)
        .map(str::to_string)
        .collect()
}

/// The value of `name` in a snippet (comment and quotes stripped).
pub fn setting_value(snippet: &str, name: &str) -> Option<String> {
    snippet.lines().find_map(|l| {
        (setting_name(l)? == name).then(|| {
            let value = l.split_once('=').map(|x| x.1).unwrap_or("");
            let value = value.split('#').next().unwrap_or("").trim();
            value.trim_matches('\'').to_string()
        })
    })
}

/// The snippet without its line(s) for `name`.
pub fn without(snippet: &str, name: &str) -> String {
    let mut out: String = snippet
        .lines()
        .filter(|l| setting_name(l) != Some(name))
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// The snippet with `name = value` instead of its own line (appended, so every line of the
/// include stays applied: pg_file_settings marks an overridden earlier line unapplied).
pub fn with_setting(snippet: &str, name: &str, value: &str, why: &str) -> String {
    let mut out = without(snippet, name);
    out.push_str(&format!("{name} = {value}  # {why}\n"));
    out
}

/// `NAME=VALUE` from the command line.
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("--set wants NAME=VALUE, not '{text}'"))?;
    let name = name.trim();
    let value = value.trim();
    if setting_name(&format!("{name} = x")) != Some(name) || value.is_empty() {
        return Err(format!(
            "--set wants NAME=VALUE with a lowercase setting name, not '{text}'"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// `vm.nr_hugepages = N` from `recommend --format sysctl` (or the snippet's host section, where
/// the line is commented out).
pub fn sysctl_hugepages(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let l = l.trim_start_matches(['#', ' ']);
        let rest = l.strip_prefix("vm.nr_hugepages")?.trim_start();
        rest.strip_prefix('=')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNIPPET: &str = "# header\n\
        shared_buffers = 6016MB             # 25% of RAM [restart]\n\
        huge_pages = try                    # reserve vm.nr_hugepages\n\
        jit = off\n\
        # --- Host ---\n\
        # vm.nr_hugepages = 3097\n";

    #[test]
    fn names_and_values() {
        assert_eq!(
            setting_names(SNIPPET),
            ["shared_buffers", "huge_pages", "jit"]
        );
        assert_eq!(
            setting_value(SNIPPET, "shared_buffers").as_deref(),
            Some("6016MB")
        );
        assert_eq!(
            setting_value("a = 'x y'  # c\n", "a").as_deref(),
            Some("x y")
        );
        assert_eq!(setting_value(SNIPPET, "work_mem"), None);
        assert_eq!(setting_name("# vm.nr_hugepages = 3097"), None);
        assert_eq!(setting_name("Shared = 1"), None);
    }

    #[test]
    fn remove_and_override() {
        let w = without(SNIPPET, "huge_pages");
        assert_eq!(setting_names(&w), ["shared_buffers", "jit"]);
        let o = with_setting(SNIPPET, "huge_pages", "on", "bench: pages reserved");
        assert_eq!(setting_names(&o), ["shared_buffers", "jit", "huge_pages"]);
        assert_eq!(setting_value(&o, "huge_pages").as_deref(), Some("on"));
        assert_eq!(o.matches("huge_pages").count(), 1);
    }

    #[test]
    fn assignments() {
        assert_eq!(parse_assignment("jit=on"), Ok(("jit".into(), "on".into())));
        assert_eq!(
            parse_assignment(" work_mem = 4MB "),
            Ok(("work_mem".into(), "4MB".into()))
        );
        assert!(parse_assignment("jit").is_err());
        assert!(parse_assignment("Bad=1").is_err());
        assert!(parse_assignment("jit=").is_err());
    }

    #[test]
    fn hugepages_from_sysctl_and_snippet() {
        assert_eq!(
            sysctl_hugepages("# comment\nvm.nr_hugepages = 3104\nvm.swappiness = 1\n"),
            Some(3104)
        );
        assert_eq!(sysctl_hugepages(SNIPPET), Some(3097));
        assert_eq!(sysctl_hugepages("vm.swappiness = 1\n"), None);
    }
}

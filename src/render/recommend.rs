//! Renders a recommendation as a postgresql.conf snippet (through a minijinja template, the
//! built-in one from `templates/` or the user's), as `ALTER SYSTEM` statements, or as JSON.
//! Pure: the caller reads any template file and passes its text in.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::tune::{Recommendation, Recommendations, Section};

/// The built-in conf layout, embedded so the binary works from any directory.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../templates/postgresql.conf.j2");

/// Where each input came from, in words for the header ("probed, cgroup limit none").
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// RAM: "given" or "probed, cgroup limit …".
    pub ram: String,
    /// CPUs: "given" or "probed".
    pub cpus: String,
    /// Connections: "given", "web profile default", "from server".
    pub connections: String,
    /// PostgreSQL version: "given", "default", "from server".
    pub pg_version: String,
    /// Storage: "given" or "default".
    pub storage: String,
    /// OS: "given" or "this host".
    pub os: String,
    /// Data size against RAM: "unknown offline" or "from server: 3.2 GiB of data".
    pub data_size: String,
    /// The server the inputs came from (redacted), when connected.
    pub server: Option<String>,
}

/// One setting as JSON sees it: the value as written in the conf, plus bytes or ms where it
/// has a unit.
#[derive(Debug, Serialize)]
struct JsonSetting<'a> {
    name: &'a str,
    value: String,
    section: Section,
    reason: &'a str,
    is_default: bool,
    restart_required: bool,
    bytes: Option<u64>,
    ms: Option<u64>,
}

impl<'a> JsonSetting<'a> {
    fn new(s: &'a Recommendation) -> Self {
        JsonSetting {
            name: s.name,
            value: s.value.to_conf(),
            section: s.section,
            reason: &s.reason,
            is_default: s.is_default,
            restart_required: s.restart_required,
            bytes: s.value.bytes(),
            ms: s.value.ms(),
        }
    }
}

/// One setting as templates see it: the JSON fields plus the aligned `name = value`.
#[derive(Debug, Serialize)]
struct SettingView<'a> {
    #[serde(flatten)]
    setting: JsonSetting<'a>,
    /// `name = value`, padded so that reason comments line up.
    line: String,
}

#[derive(Debug, Serialize)]
struct SectionView<'a> {
    title: &'static str,
    settings: Vec<SettingView<'a>>,
}

fn setting_view(s: &Recommendation, width: usize) -> SettingView<'_> {
    let setting = JsonSetting::new(s);
    let assignment = format!("{} = {}", setting.name, setting.value);
    SettingView {
        setting,
        line: format!("{assignment:<width$}"),
    }
}

fn assignment_width(recs: &Recommendations) -> usize {
    recs.settings
        .iter()
        .map(|s| s.name.len() + 3 + s.value.to_conf().len())
        .max()
        .unwrap_or(0)
}

/// The header's input lines, shared by every format.
pub fn input_lines(recs: &Recommendations, prov: &Provenance) -> Vec<String> {
    let i = &recs.input;
    let mut lines = vec![
        format!(
            "RAM: {}, {}",
            crate::units::format_bytes_human(i.ram_kb.saturating_mul(crate::units::KB_BYTES)),
            prov.ram
        ),
        format!("CPUs: {}, {}", i.cpus, prov.cpus),
        format!("Connections: {}, {}", recs.connections, prov.connections),
        format!("Profile: {}", i.profile.as_str()),
        format!("Storage: {}, {}", i.storage.as_str(), prov.storage),
        if recs.version_neutral {
            format!(
                "PostgreSQL: any {}–{}, {}",
                crate::tune::MIN_PG_VERSION,
                crate::tune::MAX_PG_VERSION,
                prov.pg_version
            )
        } else {
            format!("PostgreSQL: {}, {}", i.pg_version, prov.pg_version)
        },
        format!("OS: {}, {}", i.os.as_str(), prov.os),
        format!("Data size vs RAM: {}", prov.data_size),
    ];
    if let Some(server) = &prov.server {
        lines.push(format!("Server: {server}"));
    }
    lines
}

/// A user's template: the name errors call it by (the path as given) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Template<'a> {
    /// How errors name the file: `t1.j2:1: undefined variable input.ram_bytes`.
    pub name: &'a str,
    /// The template source.
    pub text: &'a str,
}

/// Renders the conf snippet through `template` (the built-in one when `None`). An error is
/// one line, `NAME:LINE: what`, naming the variable when one is undefined.
pub fn conf(
    recs: &Recommendations,
    prov: &Provenance,
    template: Option<Template<'_>>,
) -> Result<String, String> {
    let template = template.unwrap_or(Template {
        name: "built-in template",
        text: BUILTIN_TEMPLATE,
    });
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // A typo in a user template should fail loudly, not render an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Keeps the source span of a failing expression, so the error can name the variable.
    env.set_debug(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_template(template.name, template.text)
        .map_err(|e| one_line(&e, template.text))?;
    let width = assignment_width(recs);
    let sections: Vec<SectionView<'_>> = Section::ALL
        .iter()
        .map(|&section| SectionView {
            title: section.title(),
            settings: recs
                .settings
                .iter()
                .filter(|s| s.section == section)
                .map(|s| setting_view(s, width))
                .collect(),
        })
        .filter(|s| !s.settings.is_empty())
        .collect();
    let settings: Vec<SettingView<'_>> = recs
        .settings
        .iter()
        .map(|s| setting_view(s, width))
        .collect();
    let ctx = minijinja::context! {
        tool_version => env!("CARGO_PKG_VERSION"),
        inputs => input_lines(recs, prov),
        input => &recs.input,
        connections => recs.connections,
        warnings => &recs.warnings,
        sections => sections,
        settings => settings,
        host => &recs.host,
    };
    env.get_template(template.name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| one_line(&e, template.text))
}

/// One line, `NAME:LINE: what`, in the style of compilers. minijinja's own text says
/// "undefined value" without the name, so an undefined variable is named from the source span
/// of the failing expression.
fn one_line(err: &minijinja::Error, source: &str) -> String {
    let what = match (err.kind(), err.range().and_then(|r| source.get(r))) {
        (minijinja::ErrorKind::UndefinedError, Some(expr)) => {
            format!("undefined variable {}", expr.trim())
        }
        _ => match err.detail() {
            Some(detail) => format!("{}: {detail}", err.kind()),
            None => err.kind().to_string(),
        },
    };
    let place = match (err.name(), err.line()) {
        (Some(name), Some(line)) => format!("{name}:{line}: "),
        (Some(name), None) => format!("{name}: "),
        _ => String::new(),
    };
    super::sanitize::one_line(&format!("{place}{what}"))
}

/// The header's input lines and warnings as comments starting with `comment` (`--` for SQL,
/// `#` for sysctl.d): one layout for every non-template format.
fn push_inputs_and_warnings(
    out: &mut String,
    comment: &str,
    recs: &Recommendations,
    prov: &Provenance,
) {
    for line in input_lines(recs, prov) {
        out.push_str(&format!("{comment}   {line}\n"));
    }
    if !recs.warnings.is_empty() {
        out.push_str(&format!("{comment}\n{comment} Warnings:\n"));
        for w in &recs.warnings {
            out.push_str(&format!("{comment}   - {w}\n"));
        }
    }
}

/// Renders one `ALTER SYSTEM SET` per setting, preceded by its reason, with the header as SQL
/// comments. Values are always quoted: every GUC type accepts a quoted literal.
pub fn sql(recs: &Recommendations, prov: &Provenance) -> String {
    let mut out = format!(
        "-- ALTER SYSTEM statements generated by pgcache-tune {}\n-- Run as a superuser, then SELECT pg_reload_conf(); settings marked [restart] need a restart.\n--\n-- Inputs:\n",
        env!("CARGO_PKG_VERSION")
    );
    push_inputs_and_warnings(&mut out, "--", recs, prov);
    for s in &recs.settings {
        let default = if s.is_default {
            " (PostgreSQL default)"
        } else {
            ""
        };
        let restart = if s.restart_required { " [restart]" } else { "" };
        out.push_str(&format!(
            "\n-- {}{default}{restart}\nALTER SYSTEM SET {} = '{}';\n",
            s.reason,
            s.name,
            s.value.to_conf().replace('\'', "''")
        ));
    }
    out
}

/// Renders the kernel advice as a sysctl.d file: the header as comments, then each key's
/// comment lines and `key = value` (`sysctl -p` syntax); advice without a value (transparent
/// huge pages is not a sysctl) stays a comment.
pub fn sysctl(recs: &Recommendations, prov: &Provenance) -> String {
    let mut out = format!(
        "# sysctl.d file generated by pgcache-tune {} for the postgresql.conf snippet of the same inputs.\n# Install: cp FILE /etc/sysctl.d/60-postgresql.conf && sysctl -p /etc/sysctl.d/60-postgresql.conf\n# Reserve huge pages before PostgreSQL starts (restart it after raising vm.nr_hugepages).\n#\n# Inputs:\n",
        env!("CARGO_PKG_VERSION")
    );
    push_inputs_and_warnings(&mut out, "#", recs, prov);
    for a in &recs.host {
        out.push('\n');
        for c in &a.comments {
            out.push_str(&format!("# {}: {c}\n", a.key));
        }
        if let Some(v) = &a.value {
            out.push_str(&format!("{} = {v}\n", a.key));
        }
    }
    out
}

#[derive(Serialize)]
struct JsonInputs<'a> {
    ram_bytes: u64,
    ram_source: &'a str,
    cpus: u32,
    cpus_source: &'a str,
    connections: u32,
    connections_source: &'a str,
    profile: &'static str,
    storage: &'static str,
    storage_source: &'a str,
    /// `None` for a version-neutral answer.
    pg_version: Option<u32>,
    pg_version_source: &'a str,
    version_neutral: bool,
    left_out: &'a [crate::tune::LeftOut],
    os: &'static str,
    os_source: &'a str,
    /// `None` when unknown (offline): `Mid` is the engine's "neither adjustment".
    data_size: Option<crate::tune::DataSize>,
    data_size_source: &'a str,
    build: crate::tune::BuildCaps,
    server: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    tool_version: &'static str,
    inputs: JsonInputs<'a>,
    warnings: &'a [String],
    settings: Vec<JsonSetting<'a>>,
    /// Kernel advice for this host; empty when not probed (see `recommend --format sysctl`).
    host: &'a [crate::tune::host_advice::Advice],
}

/// Renders inputs, warnings and every setting (value as written in the conf, plus bytes or ms
/// where it has a unit, and the reason) as pretty JSON.
pub fn json(recs: &Recommendations, prov: &Provenance) -> String {
    let i = &recs.input;
    let doc = JsonDoc {
        tool_version: env!("CARGO_PKG_VERSION"),
        inputs: JsonInputs {
            ram_bytes: i.ram_kb.saturating_mul(crate::units::KB_BYTES),
            ram_source: &prov.ram,
            cpus: i.cpus,
            cpus_source: &prov.cpus,
            connections: recs.connections,
            connections_source: &prov.connections,
            profile: i.profile.as_str(),
            storage: i.storage.as_str(),
            storage_source: &prov.storage,
            pg_version: (!recs.version_neutral).then_some(i.pg_version),
            pg_version_source: &prov.pg_version,
            version_neutral: recs.version_neutral,
            left_out: &recs.left_out,
            os: i.os.as_str(),
            os_source: &prov.os,
            data_size: (i.data_size != crate::tune::DataSize::Mid).then_some(i.data_size),
            data_size_source: &prov.data_size,
            build: i.build,
            server: prov.server.as_deref(),
        },
        warnings: &recs.warnings,
        settings: recs.settings.iter().map(JsonSetting::new).collect(),
        host: &recs.host,
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("plain data always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::{BuildCaps, DataSize, Os, Profile, Storage, TuneInput};

    fn prov() -> Provenance {
        Provenance {
            ram: "given".into(),
            cpus: "given".into(),
            connections: "given".into(),
            pg_version: "given".into(),
            storage: "default".into(),
            os: "given".into(),
            data_size: "unknown offline".into(),
            server: None,
        }
    }

    fn input(data_size: DataSize) -> TuneInput {
        TuneInput {
            ram_kb: 16 * crate::units::GB_KB,
            cpus: 16,
            connections: None,
            profile: Profile::Web,
            storage: Storage::Ssd,
            pg_version: 17,
            os: Os::Linux,
            data_size,
            build: BuildCaps::default(),
        }
    }

    fn json_inputs(recs: &crate::tune::Recommendations) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&json(recs, &prov())).unwrap()["inputs"].clone()
    }

    fn render(text: &str) -> Result<String, String> {
        let recs = crate::tune::recommend(&input(DataSize::Mid));
        conf(
            &recs,
            &prov(),
            Some(Template {
                name: "t1.j2",
                text,
            }),
        )
    }

    #[test]
    fn template_errors_name_the_file_line_and_variable() {
        assert_eq!(
            render("{{ input.ram_bytes }}").unwrap_err(),
            "t1.j2:1: undefined variable input.ram_bytes"
        );
        assert_eq!(
            render("ok\n{% if nope %}x{% endif %}").unwrap_err(),
            "t1.j2:2: undefined variable nope"
        );
        let syntax = render("{% for s in settings %}").unwrap_err();
        assert!(syntax.starts_with("t1.j2:1: syntax error"), "{syntax}");
        // Every documented input field exists.
        let fields = "{{ input.ram_kb }} {{ input.cpus }} {{ input.connections }} \
            {{ input.profile }} {{ input.storage }} {{ input.pg_version }} {{ input.os }} \
            {{ input.data_size }} {{ input.build.lz4 }} {{ input.build.io_uring }}";
        assert_eq!(
            render(fields).unwrap(),
            "16777216 16 None web ssd 17 linux mid None None"
        );
    }

    #[test]
    fn unknown_data_size_is_null_not_mid() {
        let inputs = json_inputs(&crate::tune::recommend(&input(DataSize::Mid)));
        assert!(inputs["data_size"].is_null(), "{inputs}");
        let inputs = json_inputs(&crate::tune::recommend(&input(DataSize::Less)));
        assert_eq!(inputs["data_size"], "less");
    }

    #[test]
    fn version_neutral_answers_say_so_everywhere() {
        let recs = crate::tune::recommend_any_version(&input(DataSize::Mid));
        let inputs = json_inputs(&recs);
        assert!(inputs["pg_version"].is_null(), "{inputs}");
        assert_eq!(inputs["version_neutral"], true);
        assert_eq!(inputs["left_out"][0]["name"], "io_workers");
        assert_eq!(inputs["left_out"][0]["majors"], serde_json::json!([18]));
        let lines = input_lines(&recs, &prov());
        assert!(
            lines.iter().any(|l| l == "PostgreSQL: any 13–18, given"),
            "{lines:?}"
        );
        let recs = crate::tune::recommend(&input(DataSize::Mid));
        assert_eq!(json_inputs(&recs)["pg_version"], 17);
    }
}

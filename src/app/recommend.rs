//! `recommend` and `probe`: the offline half of the tool, plus `recommend --from`, which asks
//! a server for the inputs it knows better than we do.

use std::path::Path;

use anyhow::Context;

use super::Outcome;
use crate::cli::{ProbeArgs, RecommendArgs, RecommendFormat, TableFormat};
use crate::exit;
use crate::render::recommend::Provenance;
use crate::tune::{self, BuildCaps, DataSize, Os, Storage, TuneInput};
use crate::units::KB_BYTES;

pub(super) fn recommend(args: &RecommendArgs) -> anyhow::Result<Outcome> {
    if args.template.is_some() && args.format != RecommendFormat::Conf {
        return Err(exit::usage(
            "--template applies to --format conf only; drop it or use --format conf",
        ));
    }
    // Read the template before any work so a bad path fails fast.
    let template = args.template.as_deref().map(read_template).transpose()?;

    let needs_probe = args.ram.is_none() || args.cpus.is_none();
    let facts = if needs_probe {
        Some(
            crate::host::probe(None)
                .context("probing this host (give --ram and --cpus to skip)")?,
        )
    } else {
        None
    };
    let (ram_bytes, ram_source) = match (args.ram, &facts) {
        (Some(bytes), _) => (bytes, "given".to_string()),
        (None, Some(f)) => (
            f.tuning_ram_bytes(),
            format!("probed, {}", f.limit_description()),
        ),
        (None, None) => unreachable!("probed above when --ram is missing"),
    };
    let ram_kb = ram_bytes / KB_BYTES;
    if ram_kb < tune::MIN_RAM_KB {
        return Err(exit::usage(format!(
            "this host offers {} of RAM, too little to tune (at least 64MB); pass --ram",
            crate::units::format_bytes_human(ram_bytes)
        )));
    }
    let ram_kb = ram_kb.min(tune::MAX_RAM_KB);
    let (cpus, cpus_source) = match (args.cpus, &facts) {
        (Some(n), _) => (n, "given".to_string()),
        (None, Some(f)) => (f.usable_cpus.clamp(1, tune::MAX_CPUS), "probed".to_string()),
        (None, None) => unreachable!("probed above when --cpus is missing"),
    };
    let os = args.os.unwrap_or_else(Os::this_host);
    let input = TuneInput {
        ram_kb,
        cpus,
        connections: args.connections,
        profile: args.profile,
        storage: args.storage.unwrap_or(Storage::Ssd),
        pg_version: args.pg_version.unwrap_or(tune::MAX_PG_VERSION),
        os,
        data_size: DataSize::Mid,
        build: BuildCaps::default(),
    };
    let recs = tune::recommend(&input);
    let prov = Provenance {
        ram: ram_source,
        cpus: cpus_source,
        connections: match args.connections {
            Some(_) => "given".to_string(),
            None => format!("{} profile default", args.profile.as_str()),
        },
        pg_version: given_or(args.pg_version.is_some(), "default"),
        storage: given_or(args.storage.is_some(), "default"),
        os: given_or(args.os.is_some(), "this host"),
        data_size: "unknown offline (connect with report to measure it)".to_string(),
        server: None,
    };
    let text = match args.format {
        RecommendFormat::Conf => crate::render::recommend::conf(&recs, &prov, template.as_deref())
            .map_err(|e| {
                let name = args.template.as_deref().map_or_else(
                    || "built-in template".to_string(),
                    |p| p.display().to_string(),
                );
                exit::data(format!("--template {name}: {e}"))
            })?,
        RecommendFormat::Sql => crate::render::recommend::sql(&recs, &prov),
        RecommendFormat::Json => crate::render::recommend::json(&recs, &prov),
    };
    Ok(Outcome::ok(text))
}

fn given_or(given: bool, otherwise: &str) -> String {
    if given { "given" } else { otherwise }.to_string()
}

fn read_template(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        exit::io(format!(
            "--template {}: cannot read it: {}",
            path.display(),
            crate::exit::io_reason(&e)
        ))
    })
}

pub(super) fn probe(args: &ProbeArgs) -> anyhow::Result<Outcome> {
    if let Some(dir) = &args.data_dir
        && !dir.exists()
    {
        return Err(exit::usage(format!(
            "--data-dir {}: no such file or directory",
            dir.display()
        )));
    }
    let facts = crate::host::probe(args.data_dir.as_deref()).context("probing this host")?;
    let text = match args.format {
        TableFormat::Table => crate::render::probe::table(&facts) + "\n",
        TableFormat::Json => {
            let mut t = serde_json::to_string_pretty(&facts).context("encoding JSON")?;
            t.push('\n');
            t
        }
    };
    Ok(Outcome::ok(text))
}


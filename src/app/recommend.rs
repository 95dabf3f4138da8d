//! `recommend` and `probe`: the offline half of the tool, plus `recommend --from`, which asks
//! a server for the inputs it knows better than we do.

use std::path::Path;

use anyhow::Context;

use super::{Outcome, live, report};
use crate::cli::{HostOverrides, ProbeArgs, RecommendArgs, RecommendFormat, TableFormat};
use crate::collect::{self, CollectOptions};
use crate::conninfo::{self, ConnectionArgs};
use crate::diag;
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
    let (input, prov) = match &args.from {
        Some(from) => from_server(args, from)?,
        None => offline(args)?,
    };
    let recs = tune::recommend(&input);
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

/// Inputs from the flags and, for what they leave out, this host's probe.
fn offline(args: &RecommendArgs) -> anyhow::Result<(TuneInput, Provenance)> {
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
            f.probed_tuning_ram_bytes(),
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
    Ok((input, prov))
}

/// Inputs from the server (major version, build options, max_connections, data size) and the
/// host it runs on: probed when the server is local, else the --ram/--cpus flags, required.
fn from_server(args: &RecommendArgs, from: &str) -> anyhow::Result<(TuneInput, Provenance)> {
    if args.pg_version.is_some() {
        return Err(exit::usage(
            "--pg-version cannot be combined with --from: the server's own major version is used",
        ));
    }
    let conn = ConnectionArgs {
        connection: Some(from.to_string()),
        statement_timeout: args.statement_timeout,
        ..ConnectionArgs::default()
    };
    let params = live::resolve(&conn)?;
    let flags = HostOverrides {
        ram: args.ram,
        cpus: args.cpus,
        profile: args.profile,
        storage: args.storage.unwrap_or(Storage::Ssd),
    };
    let mut host = report::host_context(&flags, Some(&params))?;
    host.os = args.os.unwrap_or_else(Os::this_host);
    if host.ram_bytes.is_none() || host.cpus.is_none() {
        return Err(exit::usage(format!(
            "--from {}: the server is not on this machine, so its RAM and CPUs are not visible from here; pass --ram and --cpus",
            params.redacted()
        )));
    }
    let rt = live::runtime()?;
    let snap = rt.block_on(async {
        let client = conninfo::connect(&params).await?;
        let opts = CollectOptions {
            tables: false,
            indexes: false,
            settings: true,
        };
        collect::collect(&client, &opts).await
    })?;
    let major = snap.major();
    if !(tune::MIN_PG_VERSION..=tune::MAX_PG_VERSION).contains(&major) {
        return Err(exit::server(format!(
            "{}: PostgreSQL {major} is not supported; pgcache-tune tunes 13 to 18",
            params.redacted()
        )));
    }
    let mut input = diag::tune_input_from_server(&snap, &host).ok_or_else(|| {
        exit::usage("the server's host has too little RAM to tune (at least 64MB); pass --ram")
    })?;
    if args.connections.is_some() {
        input.connections = args.connections;
    }
    let data = snap.server.total_data_bytes.map_or_else(
        || "unknown (no database size visible to this role)".to_string(),
        |b| {
            format!(
                "{}, from server: {} of data",
                match input.data_size {
                    DataSize::Less => "less than RAM",
                    DataSize::Greater => "more than RAM",
                    DataSize::Mid => "about RAM",
                },
                crate::units::format_bytes_human(u64::try_from(b).unwrap_or(0))
            )
        },
    );
    let prov = Provenance {
        ram: host.source.clone(),
        cpus: if args.cpus.is_some() {
            "given".to_string()
        } else {
            "probed (the server is local)".to_string()
        },
        connections: if args.connections.is_some() {
            "given".to_string()
        } else {
            "from server (max_connections)".to_string()
        },
        pg_version: format!(
            "from server ({})",
            crate::render::sanitize::sanitize(&snap.server.version)
        ),
        storage: given_or(args.storage.is_some(), "default"),
        os: given_or(args.os.is_some(), "this host"),
        data_size: data,
        server: Some(params.redacted()),
    };
    Ok((input, prov))
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
        TableFormat::Table => {
            crate::render::probe::table(&facts, super::terminal::Terminal::detect().width) + "\n"
        }
        TableFormat::Json => {
            let mut t = serde_json::to_string_pretty(&facts).context("encoding JSON")?;
            t.push('\n');
            t
        }
    };
    Ok(Outcome::ok(text))
}

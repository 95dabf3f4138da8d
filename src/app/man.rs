//! `man`: roff pages from clap's own description of the command line, so a page can never
//! miss an option. The overview page lists the subcommands as `pgcache-tune-NAME(1)`; each
//! of those pages exists (`man NAME`, or `man --dir` for all of them), and every page ends
//! with the exit-status table from [`Exit::ALL`].

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use super::Outcome;
use crate::cli::{Cli, ManArgs};
use crate::exit::{self, Exit};

/// Runs `man`: one page on stdout, or every page into `--dir`.
pub(super) fn man(args: &ManArgs) -> anyhow::Result<Outcome> {
    let root = built();
    if let Some(dir) = &args.dir {
        let written = write_all(&root, dir)?;
        eprintln!("wrote {} man pages to {}", written, dir.display());
        return Ok(Outcome::ok(String::new()));
    }
    let page = match &args.page {
        None => render(&root)?,
        Some(name) => match find_page(&root, name) {
            Some(sub) => render(sub)?,
            None => {
                return Err(exit::usage(format!(
                    "no man page for '{}'; pages: {}",
                    crate::render::sanitize::one_line(name),
                    subcommands(&root)
                        .map(|c| c.get_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
    };
    Ok(Outcome {
        stdout: page,
        exit: Exit::Ok,
    })
}

/// The command tree as clap finalises it: subcommands get their display names
/// (`pgcache-tune-report`), which are the page names the overview refers to.
fn built() -> clap::Command {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    root
}

/// The subcommands that get pages (clap's hidden ones do not).
fn subcommands(root: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    root.get_subcommands().filter(|c| !c.is_hide_set())
}

/// A subcommand's page by name; a nested one (`redis report`) as `redis-report`, the name
/// of its file.
fn find_page<'a>(root: &'a clap::Command, name: &str) -> Option<&'a clap::Command> {
    root.find_subcommand(name).or_else(|| {
        let (parent, child) = name.split_once('-')?;
        root.find_subcommand(parent)?.find_subcommand(child)
    })
}

/// Writes `pgcache-tune.1` and one page per subcommand (and nested subcommand, such as
/// `pgcache-tune-redis-report.1`) into `dir`; the number written.
fn write_all(root: &clap::Command, dir: &Path) -> anyhow::Result<usize> {
    let mut written = 0;
    let nested = subcommands(root).flat_map(subcommands);
    for cmd in std::iter::once(root).chain(subcommands(root)).chain(nested) {
        let page = render(cmd)?;
        let path = dir.join(clap_mangen::Man::new(cmd.clone()).get_filename());
        std::fs::write(&path, page).map_err(|e| {
            exit::io(format!(
                "cannot write {}: {}",
                path.display(),
                exit::io_reason(&e)
            ))
        })?;
        written += 1;
    }
    Ok(written)
}

/// One page: clap_mangen's sections, then EXIT STATUS before VERSION.
fn render(cmd: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    let has_subcommands = cmd.get_subcommands().next().is_some();
    (|| -> std::io::Result<()> {
        man.render_title(&mut buf)?;
        man.render_name_section(&mut buf)?;
        man.render_synopsis_section(&mut buf)?;
        man.render_description_section(&mut buf)?;
        man.render_options_section(&mut buf)?;
        if has_subcommands {
            man.render_subcommands_section(&mut buf)?;
        }
        if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
            man.render_extra_section(&mut buf)?;
        }
        buf.write_all(exit_status_section().as_bytes())?;
        man.render_version_section(&mut buf)
    })()
    .with_context(|| format!("rendering the man page of {}", cmd.get_name()))?;
    Ok(buf)
}

/// The EXIT STATUS section in roff: one tagged paragraph per code.
fn exit_status_section() -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for e in Exit::ALL {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            e.code(),
            roff_text(e.meaning())
        ));
    }
    out
}

/// Escapes text for a roff body line: backslashes and hyphens, and a leading dot or quote
/// that roff would read as a request.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_exit_status_section() {
        let text = exit_status_section();
        for e in Exit::ALL {
            assert!(text.contains(&format!("\\fB{}\\fR\n", e.code())), "{e:?}");
        }
        assert_eq!(roff_text(".x-y\\"), "\\&.x\\-y\\e");
    }

    #[test]
    fn the_overview_refers_only_to_pages_that_exist() {
        let root = built();
        let overview = String::from_utf8(render(&root).unwrap()).unwrap();
        for sub in subcommands(&root) {
            let name = clap_mangen::Man::new(sub.clone()).get_filename();
            assert_eq!(name, format!("pgcache-tune-{}.1", sub.get_name()));
            let reference = format!("pgcache\\-tune\\-{}(1)", sub.get_name());
            assert!(overview.contains(&reference), "{reference} not in overview");
        }
    }
}

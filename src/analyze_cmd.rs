//! `wutap analyze` and `wutap rules`: thin shells over the `analyzer` crate.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;

use crate::Outcome;
use crate::cli::{AnalyzeArgs, AnalyzeFormat, AnalyzeProfile, Format, RuleLevel, RulesArgs};

/// Inputs larger than this (50 MB in all) get a progress bar when stderr is a terminal.
const PROGRESS_OVER: u64 = 50 * 1000 * 1000;

/// Runs `wutap analyze`: exit 1 on any MUST violation or input problem.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let options = analyzer::Options {
        profile: match args.profile {
            AnalyzeProfile::Spec => analyzer::Profile::Spec,
            AnalyzeProfile::Native => analyzer::Profile::Native,
        },
        rules: args
            .rules
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect(),
        level: args.level.map(|l| match l {
            RuleLevel::Must => analyzer::Level::Must,
            RuleLevel::Should => analyzer::Level::Should,
            RuleLevel::Obs => analyzer::Level::Obs,
        }),
    };
    let total: u64 = args
        .captures
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = (total > PROGRESS_OVER && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "analyzing {bar:40} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // Sessions, skipped exchanges and input problems stream to a spool (0600 temporary
    // files) as they come, so memory never holds them all; the report is then written from
    // it (sessions in start order), after the totals.
    let mut spool = analyzer::Spool::new().context("wutap analyze: creating the session spool")?;
    let mut spool_error = None;
    let tail = analyzer::analyze_streaming(
        &args.captures,
        &options,
        &mut |p| {
            if let Some(bar) = &bar {
                bar.set_length(p.total);
                bar.set_position(p.read);
            }
        },
        &mut |entry| {
            if spool_error.is_none()
                && let Err(e) = spool.push_entry(&entry)
            {
                spool_error = Some(e);
            }
        },
    )
    .context("wutap analyze")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = spool_error {
        return Err(e).context("wutap analyze: writing the session spool");
    }
    let sessions = spool
        .finish(&tail)
        .context("wutap analyze: reading the session spool")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        AnalyzeFormat::Text => tail.write_text(&mut out, &sessions)?,
        AnalyzeFormat::Json => {
            tail.write_json(&mut out, &sessions)?;
            out.write_all(b"\n")?;
        }
        AnalyzeFormat::Junit => tail.write_junit(&mut out, &sessions)?,
    }
    out.flush()?;
    Ok(if tail.has_problems() {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// Runs `wutap rules`.
pub fn rules(args: RulesArgs) -> anyhow::Result<Outcome> {
    let text = match args.format {
        Format::Text => analyzer::rules_text(),
        Format::Json => analyzer::rules_json() + "\n",
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(Outcome::Clean)
}

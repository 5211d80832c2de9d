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
    let analysis = analyzer::analyze_with_progress(&args.captures, &options, &mut |p| {
        if let Some(bar) = &bar {
            bar.set_length(p.total);
            bar.set_position(p.read);
        }
    })
    .context("wutap analyze")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        AnalyzeFormat::Text => out.write_all(analysis.to_text().as_bytes())?,
        AnalyzeFormat::Json => {
            analysis.write_json(&mut out)?;
            out.write_all(b"\n")?;
        }
        AnalyzeFormat::Junit => out.write_all(analysis.to_junit().as_bytes())?,
    }
    out.flush()?;
    Ok(if analysis.has_problems() {
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

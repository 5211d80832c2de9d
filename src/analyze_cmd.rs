//! `wutap analyze` and `wutap rules`: thin shells over the `analyzer` crate.

use std::io::Write as _;

use anyhow::Context as _;

use crate::Outcome;
use crate::cli::{AnalyzeArgs, AnalyzeFormat, AnalyzeProfile, Format, RuleLevel, RulesArgs};

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
    let analysis = analyzer::analyze(&args.captures, &options).context("wutap analyze")?;
    let text = match args.format {
        AnalyzeFormat::Text => analysis.to_text(),
        AnalyzeFormat::Json => analysis.to_json() + "\n",
        AnalyzeFormat::Junit => analysis.to_junit(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
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

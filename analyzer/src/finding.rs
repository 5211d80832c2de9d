//! Findings: what a rule found about some exchanges, and against which profile.

use serde::{Deserialize, Serialize};

use crate::catalogue::{Level, Rule};

/// Which side of a spec-vs-Windows disagreement (reference section 10) rules are measured against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The normative text of MS-WUSP.
    Spec,
    /// What real Windows and WSUS do (the default).
    #[default]
    Native,
}

impl Profile {
    /// `spec` or `native`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Spec => "spec",
            Profile::Native => "native",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "spec" => Ok(Profile::Spec),
            "native" => Ok(Profile::Native),
            _ => Err(format!("no profile {s:?} (spec, native)")),
        }
    }
}

/// Whether the data shows the rule broken or cannot decide it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The exchanges break the rule.
    Violated,
    /// The data cannot decide the rule (never reported as passed).
    Unverifiable,
}

impl Status {
    /// `violated` or `unverifiable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Violated => "violated",
            Status::Unverifiable => "unverifiable",
        }
    }
}

/// One finding of one rule (read back from JSON with the rule's id and citation taken
/// from the catalogue).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule id, e.g. `C-28`.
    pub rule: &'static str,
    /// The rule's level.
    pub level: Level,
    /// Violated or unverifiable.
    pub status: Status,
    /// What happened, in one line.
    pub message: String,
    /// The exchanges involved (`file#id`).
    pub exchanges: Vec<String>,
    /// What the rule expects.
    pub expected: String,
    /// What the capture shows.
    pub observed: String,
    /// The rule's citation.
    pub cite: &'static str,
    /// The profile the finding is measured against.
    pub profile: Profile,
}

/// A [`Finding`] as JSON holds it: the rule id as text.
#[derive(Deserialize)]
struct FindingJson {
    rule: String,
    level: Level,
    status: Status,
    message: String,
    exchanges: Vec<String>,
    expected: String,
    observed: String,
    profile: Profile,
}

impl<'de> Deserialize<'de> for Finding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Finding, D::Error> {
        let f = FindingJson::deserialize(d)?;
        let rule = crate::catalogue::find(&f.rule).ok_or_else(|| {
            <D::Error as serde::de::Error>::custom(format!("no rule {:?} in the catalogue", f.rule))
        })?;
        Ok(Finding {
            rule: rule.id,
            level: f.level,
            status: f.status,
            message: f.message,
            exchanges: f.exchanges,
            expected: f.expected,
            observed: f.observed,
            cite: rule.cite,
            profile: f.profile,
        })
    }
}

impl Finding {
    /// A finding of `rule` (level and citation taken from the catalogue).
    pub(crate) fn new(rule: &'static Rule, status: Status, message: impl Into<String>) -> Self {
        Finding {
            rule: rule.id,
            level: rule.level,
            status,
            message: message.into(),
            exchanges: Vec::new(),
            expected: String::new(),
            observed: String::new(),
            cite: rule.cite,
            profile: Profile::Native,
        }
    }

    /// Sets the exchanges involved.
    pub(crate) fn at<I, S>(mut self, exchanges: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exchanges = exchanges.into_iter().map(Into::into).collect();
        self
    }

    /// Sets expected vs observed.
    pub(crate) fn versus(
        mut self,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Self {
        self.expected = expected.into();
        self.observed = observed.into();
        self
    }

    /// True for a violated MUST rule.
    pub fn is_must_violation(&self) -> bool {
        self.status == Status::Violated && self.level == Level::Must
    }
}

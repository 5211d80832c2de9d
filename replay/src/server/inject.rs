//! Fault injection (`--inject FAULT@OPERATION[#N]`).
//!
//! `FAULT` is a WUSP ErrorCode name (`CookieExpired`, `InvalidCookie`, `ServerChanged`,
//! `ConfigChanged`, `RegistrationRequired`, `FileLocationChanged`, `InvalidParameters`,
//! `InternalServerError`, `ServerBusy`, …; any code of [`wusp::ErrorCode`]), or a transport
//! fault: `close` (cut the response), `delay=MS` (answer after MS milliseconds) or `503`
//! (HTTP 503 without SOAP body). `OPERATION` is a web-method name (case-insensitive) or `*`
//! for every operation. `#N` restricts the fault to the N-th call (1-based) of that
//! operation; without it every call gets the fault. Calls are counted per operation with
//! atomics, so a plan is shared by all connection threads.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wusp::{ErrorCode, Operation};

use super::TransportFault;

/// Why an injection spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    /// The spec has no `@`.
    #[error("{0:?}: expected FAULT@OPERATION[#N]")]
    Syntax(String),
    /// The fault is neither an ErrorCode nor a transport fault.
    #[error(
        "{0:?}: unknown fault (an ErrorCode such as CookieExpired or ServerBusy, or close, delay=MS, 503)"
    )]
    UnknownFault(String),
    /// The operation is not a web method.
    #[error("{0:?}: unknown operation (a web-method name such as SyncUpdates, or *)")]
    UnknownOperation(String),
    /// `#N` or `delay=MS` is not a positive number.
    #[error("{0:?}: not a positive number")]
    BadNumber(String),
}

/// What is injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// A SOAP fault with this ErrorCode (HTTP 500).
    Soap(ErrorCode),
    /// A transport fault carried out by the HTTP layer.
    Transport(TransportFault),
}

/// One parsed `FAULT@OPERATION[#N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectRule {
    /// The fault.
    pub fault: FaultKind,
    /// The operation; `None` for `*` (every operation).
    pub operation: Option<Operation>,
    /// Only the N-th call (1-based) of the operation; `None` for every call.
    pub nth: Option<u64>,
}

impl FromStr for InjectRule {
    type Err = InjectError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let s = spec.trim();
        let (fault, target) = s
            .split_once('@')
            .ok_or_else(|| InjectError::Syntax(spec.to_string()))?;
        let (op, nth) = match target.split_once('#') {
            Some((op, n)) => {
                let n: u64 = n
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| InjectError::BadNumber(spec.to_string()))?;
                (op.trim(), Some(n))
            }
            None => (target.trim(), None),
        };
        let operation = if op == "*" {
            None
        } else {
            Some(
                op.parse::<Operation>()
                    .map_err(|_| InjectError::UnknownOperation(spec.to_string()))?,
            )
        };
        let f = fault.trim();
        let fault = if f.eq_ignore_ascii_case("close") {
            FaultKind::Transport(TransportFault::CloseMidResponse)
        } else if f == "503" {
            FaultKind::Transport(TransportFault::Http503)
        } else if let Some(ms) = f
            .strip_prefix("delay=")
            .or_else(|| f.strip_prefix("DELAY="))
        {
            let ms: u64 = ms
                .trim()
                .parse()
                .map_err(|_| InjectError::BadNumber(spec.to_string()))?;
            FaultKind::Transport(TransportFault::Delay(Duration::from_millis(ms)))
        } else {
            let code = ErrorCode::ALL
                .iter()
                .find(|c| c.as_str().eq_ignore_ascii_case(f))
                .ok_or_else(|| InjectError::UnknownFault(spec.to_string()))?;
            FaultKind::Soap(code.clone())
        };
        Ok(InjectRule {
            fault,
            operation,
            nth,
        })
    }
}

/// The injection plan of a server: rules plus per-operation call counters.
#[derive(Debug)]
pub struct FaultPlan {
    rules: Vec<InjectRule>,
    counts: Vec<AtomicU64>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::new(Vec::new())
    }
}

impl Clone for FaultPlan {
    /// A copy of the rules with fresh counters.
    fn clone(&self) -> Self {
        FaultPlan::new(self.rules.clone())
    }
}

impl FaultPlan {
    /// A plan with these rules (counters at zero).
    pub fn new(rules: Vec<InjectRule>) -> FaultPlan {
        FaultPlan {
            rules,
            counts: Operation::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Parses `FAULT@OPERATION[#N]` specs (the `--inject` values).
    pub fn parse<I, S>(specs: I) -> Result<FaultPlan, InjectError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let rules = specs
            .into_iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FaultPlan::new(rules))
    }

    /// The rules.
    pub fn rules(&self) -> &[InjectRule] {
        &self.rules
    }

    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Counts one call of `op` and returns the fault to inject into it, if any (first rule wins).
    pub fn on_call(&self, op: Operation) -> Option<FaultKind> {
        let slot = Operation::ALL.iter().position(|o| *o == op)?;
        let n = self.counts[slot].fetch_add(1, Ordering::Relaxed) + 1;
        self.rules
            .iter()
            .find(|r| r.operation.is_none_or(|o| o == op) && r.nth.is_none_or(|k| k == n))
            .map(|r| r.fault.clone())
    }

    /// How many calls of `op` were counted.
    pub fn calls(&self, op: Operation) -> u64 {
        Operation::ALL
            .iter()
            .position(|o| *o == op)
            .map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_every_form() {
        let r: InjectRule = "CookieExpired@SyncUpdates#2".parse().unwrap();
        assert_eq!(r.fault, FaultKind::Soap(ErrorCode::CookieExpired));
        assert_eq!(r.operation, Some(Operation::SyncUpdates));
        assert_eq!(r.nth, Some(2));
        let r: InjectRule = "serverbusy@getconfig".parse().unwrap();
        assert_eq!(r.fault, FaultKind::Soap(ErrorCode::ServerBusy));
        assert_eq!(r.nth, None);
        let r: InjectRule = "delay=250@*".parse().unwrap();
        assert_eq!(
            r.fault,
            FaultKind::Transport(TransportFault::Delay(Duration::from_millis(250)))
        );
        assert_eq!(r.operation, None);
        let r: InjectRule = "close@GetExtendedUpdateInfo".parse().unwrap();
        assert_eq!(
            r.fault,
            FaultKind::Transport(TransportFault::CloseMidResponse)
        );
        let r: InjectRule = "503@ReportEventBatch#1".parse().unwrap();
        assert_eq!(r.fault, FaultKind::Transport(TransportFault::Http503));
        for code in ErrorCode::WUSP {
            let r: InjectRule = format!("{code}@SyncUpdates").parse().unwrap();
            assert_eq!(r.fault, FaultKind::Soap(code.clone()));
        }
    }

    #[test]
    fn refuses_bad_specs() {
        assert!(matches!(
            "CookieExpired".parse::<InjectRule>(),
            Err(InjectError::Syntax(_))
        ));
        assert!(matches!(
            "Nope@SyncUpdates".parse::<InjectRule>(),
            Err(InjectError::UnknownFault(_))
        ));
        assert!(matches!(
            "ServerBusy@Nope".parse::<InjectRule>(),
            Err(InjectError::UnknownOperation(_))
        ));
        assert!(matches!(
            "ServerBusy@SyncUpdates#0".parse::<InjectRule>(),
            Err(InjectError::BadNumber(_))
        ));
        assert!(matches!(
            "delay=x@SyncUpdates".parse::<InjectRule>(),
            Err(InjectError::BadNumber(_))
        ));
    }

    #[test]
    fn counts_per_operation_and_threads() {
        let plan = FaultPlan::parse(["ServerBusy@SyncUpdates#3", "503@GetConfig"]).unwrap();
        assert_eq!(plan.on_call(Operation::SyncUpdates), None);
        assert_eq!(plan.on_call(Operation::GetCookie), None);
        assert_eq!(plan.on_call(Operation::SyncUpdates), None);
        assert_eq!(
            plan.on_call(Operation::SyncUpdates),
            Some(FaultKind::Soap(ErrorCode::ServerBusy))
        );
        assert_eq!(plan.on_call(Operation::SyncUpdates), None);
        assert_eq!(
            plan.on_call(Operation::GetConfig),
            Some(FaultKind::Transport(TransportFault::Http503))
        );
        let plan = FaultPlan::parse(["InternalServerError@GetCookie#100"]).unwrap();
        let hits = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if plan.on_call(Operation::GetCookie).is_some() {
                            hits.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(hits.load(Ordering::Relaxed), 1);
        assert_eq!(plan.calls(Operation::GetCookie), 200);
    }
}

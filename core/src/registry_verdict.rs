//! What the vaccination registry's answer means for a passport job: go on
//! and render, end the job (rejected or failed, with the plain-words reason
//! the citizen reads), or wait and ask again.
//!
//! The origin's registry client turns HTTP into a [`RegistryAnswer`] (after
//! its own retries and circuit breaker); its worker acts on the [`Verdict`].
//! A definite answer is used however long the job waited; only "ask again"
//! is bounded by the job's longest wait.

/// What the registry client came back with for one verification. `D` is a
/// dose record (the origin's certificate type: this module never looks
/// inside one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAnswer<D> {
    /// `200 {"status":"vaccinated","doses":[...]}`, perhaps with no dose.
    Vaccinated(Vec<D>),
    /// `200 {"status":"not_found"}`: no record under this national id.
    NotFound,
    /// `200 {"status":"mismatch"}`: the id is held by someone with other
    /// details.
    Mismatch,
    /// Worth asking again later: `429` or `5xx` on every attempt, timeouts,
    /// refused connections and other transport errors, or an open circuit.
    Unavailable,
    /// Asking again will not help: a `4xx` other than `429`, or a `2xx` whose
    /// body is not a registry answer.
    Refused,
}

/// How a job that ends here ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// The registry answered, and the answer is no.
    Rejected,
    /// No answer could be had.
    Failed,
}

/// The job's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<D> {
    /// Confirmed, with at least one dose: render the passport from these.
    Issue(Vec<D>),
    /// The job ends now, with this status and reason.
    End {
        status: JobEnd,
        reason: &'static str,
    },
    /// Ask again after a pause; meanwhile the job shows `reason`.
    Wait { reason: &'static str },
}

pub const NOT_FOUND: &str = "no vaccination record was found for these details";
pub const MISMATCH: &str = "the details do not match the registry's record for this national id";
pub const NO_DOSES: &str = "the registry holds no vaccination for this person";
pub const REFUSED: &str = "the registry could not process the request";
pub const TOO_LATE: &str = "the registry could not be reached in time";
pub const WAITING: &str = "waiting for the registry to become available";

/// The next step for a job created at `created_ms`, now `now_ms`, that may
/// wait for the registry at most `max_wait_ms` (a clock that went back
/// counts as no wait).
pub fn verdict<D>(
    answer: RegistryAnswer<D>,
    created_ms: u64,
    now_ms: u64,
    max_wait_ms: u64,
) -> Verdict<D> {
    let end = |status, reason| Verdict::End { status, reason };
    match answer {
        RegistryAnswer::Vaccinated(doses) if doses.is_empty() => end(JobEnd::Rejected, NO_DOSES),
        RegistryAnswer::Vaccinated(doses) => Verdict::Issue(doses),
        RegistryAnswer::NotFound => end(JobEnd::Rejected, NOT_FOUND),
        RegistryAnswer::Mismatch => end(JobEnd::Rejected, MISMATCH),
        RegistryAnswer::Refused => end(JobEnd::Failed, REFUSED),
        RegistryAnswer::Unavailable if now_ms.saturating_sub(created_ms) > max_wait_ms => {
            end(JobEnd::Failed, TOO_LATE)
        }
        RegistryAnswer::Unavailable => Verdict::Wait { reason: WAITING },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: u64 = 1_700_000_000_000;
    const MAX_WAIT: u64 = 30 * 60_000;

    fn at(answer: RegistryAnswer<&'static str>, waited_ms: u64) -> Verdict<&'static str> {
        verdict(answer, CREATED, CREATED + waited_ms, MAX_WAIT)
    }

    fn ends(status: JobEnd, reason: &'static str) -> Verdict<&'static str> {
        Verdict::End { status, reason }
    }

    #[test]
    fn confirmed_with_doses_issues_those_doses() {
        let doses = vec!["dose 1", "dose 2"];
        assert_eq!(
            at(RegistryAnswer::Vaccinated(doses.clone()), 0),
            Verdict::Issue(doses)
        );
    }

    #[test]
    fn each_definite_no_is_a_rejection_with_its_own_reason() {
        assert_eq!(
            at(RegistryAnswer::Vaccinated(vec![]), 0),
            ends(JobEnd::Rejected, NO_DOSES)
        );
        assert_eq!(
            at(RegistryAnswer::NotFound, 0),
            ends(JobEnd::Rejected, NOT_FOUND)
        );
        assert_eq!(
            at(RegistryAnswer::Mismatch, 0),
            ends(JobEnd::Rejected, MISMATCH)
        );
        let reasons = [NOT_FOUND, MISMATCH, NO_DOSES, REFUSED, TOO_LATE, WAITING];
        for (i, a) in reasons.iter().enumerate() {
            assert!(reasons[i + 1..].iter().all(|b| a != b), "{a} twice");
        }
    }

    #[test]
    fn a_refusal_or_unreadable_answer_fails_at_once() {
        assert_eq!(
            at(RegistryAnswer::Refused, 0),
            ends(JobEnd::Failed, REFUSED)
        );
    }

    #[test]
    fn unavailable_waits_up_to_the_longest_wait_then_fails() {
        // 429s, 5xx, timeouts and transport errors all arrive as Unavailable.
        for waited in [0, 1, MAX_WAIT - 1, MAX_WAIT] {
            assert_eq!(
                at(RegistryAnswer::Unavailable, waited),
                Verdict::Wait { reason: WAITING },
                "waited {waited} ms"
            );
        }
        for waited in [MAX_WAIT + 1, 10 * MAX_WAIT] {
            assert_eq!(
                at(RegistryAnswer::Unavailable, waited),
                ends(JobEnd::Failed, TOO_LATE)
            );
        }
    }

    #[test]
    fn a_definite_answer_counts_however_long_the_job_waited() {
        let late = 10 * MAX_WAIT;
        assert_eq!(
            at(RegistryAnswer::Vaccinated(vec!["dose"]), late),
            Verdict::Issue(vec!["dose"])
        );
        assert_eq!(
            at(RegistryAnswer::NotFound, late),
            ends(JobEnd::Rejected, NOT_FOUND)
        );
        assert_eq!(
            at(RegistryAnswer::Refused, late),
            ends(JobEnd::Failed, REFUSED)
        );
    }

    #[test]
    fn a_clock_that_went_back_counts_as_no_wait() {
        assert_eq!(
            verdict::<()>(RegistryAnswer::Unavailable, CREATED, CREATED - 5_000, 0),
            Verdict::Wait { reason: WAITING }
        );
    }
}

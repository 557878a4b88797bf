//! Routing: method and path to the S3 Control job operation and the (decoded) job id.

use axum::http::Method;

use crate::emulator::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    ListJobs,
    CreateJob,
    DescribeJob,
    GetJobTagging,
    PutJobTagging,
    DeleteJobTagging,
    UpdateJobPriority,
    UpdateJobStatus,
    Unknown,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::ListJobs => "ListJobs",
            Operation::CreateJob => "CreateJob",
            Operation::DescribeJob => "DescribeJob",
            Operation::GetJobTagging => "GetJobTagging",
            Operation::PutJobTagging => "PutJobTagging",
            Operation::DeleteJobTagging => "DeleteJobTagging",
            Operation::UpdateJobPriority => "UpdateJobPriority",
            Operation::UpdateJobStatus => "UpdateJobStatus",
            Operation::Unknown => "Unknown",
        }
    }

    /// The code for malformed input: ListJobs models InvalidRequestException, the others
    /// BadRequestException.
    pub(super) fn input_error(self, message: impl Into<String>) -> ApiError {
        match self {
            Operation::ListJobs => ApiError::invalid_request(message),
            _ => ApiError::bad_request(message),
        }
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Method + path -> operation and job id (still percent-encoded ids are decoded here).
pub(super) fn route(method: &Method, path: &str) -> Result<(Operation, Option<String>), ApiError> {
    let rest = path.strip_prefix("/v20180820/jobs");
    let segments: Option<Vec<&str>> = match rest {
        Some("") | Some("/") => Some(Vec::new()),
        Some(r) if r.starts_with('/') => Some(r[1..].trim_end_matches('/').split('/').collect()),
        _ => None,
    };
    let unknown = || ApiError::unknown_operation(method.as_str(), path);
    let Some(segments) = segments else {
        return Err(unknown());
    };
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| ApiError::bad_request("the job id is not valid percent-encoded UTF-8"))
    };
    let (ops, id): (&[(Method, Operation)], Option<String>) = match segments.as_slice() {
        [] => (
            &[
                (Method::GET, Operation::ListJobs),
                (Method::POST, Operation::CreateJob),
            ],
            None,
        ),
        [id] => (&[(Method::GET, Operation::DescribeJob)], Some(decode(id)?)),
        [id, "tagging"] => (
            &[
                (Method::GET, Operation::GetJobTagging),
                (Method::PUT, Operation::PutJobTagging),
                (Method::DELETE, Operation::DeleteJobTagging),
            ],
            Some(decode(id)?),
        ),
        [id, "priority"] => (
            &[(Method::POST, Operation::UpdateJobPriority)],
            Some(decode(id)?),
        ),
        [id, "status"] => (
            &[(Method::POST, Operation::UpdateJobStatus)],
            Some(decode(id)?),
        ),
        _ => return Err(unknown()),
    };
    match ops.iter().find(|(m, _)| m == method) {
        Some((_, op)) => Ok((*op, id)),
        None => Err(ApiError::method_not_allowed(method.as_str(), path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_job_paths_and_refuses_others() {
        let ok = |m: Method, p: &str| route(&m, p).unwrap();
        assert_eq!(
            ok(Method::GET, "/v20180820/jobs"),
            (Operation::ListJobs, None)
        );
        assert_eq!(
            ok(Method::POST, "/v20180820/jobs"),
            (Operation::CreateJob, None)
        );
        assert_eq!(
            ok(Method::GET, "/v20180820/jobs/abc-12"),
            (Operation::DescribeJob, Some("abc-12".into()))
        );
        assert_eq!(
            ok(Method::PUT, "/v20180820/jobs/abc-12/tagging").0,
            Operation::PutJobTagging
        );
        assert_eq!(
            ok(Method::DELETE, "/v20180820/jobs/abc-12/tagging").0,
            Operation::DeleteJobTagging
        );
        assert_eq!(
            ok(Method::POST, "/v20180820/jobs/a%2Fb/priority").1,
            Some("a/b".into())
        );
        assert_eq!(
            route(&Method::DELETE, "/v20180820/jobs/x")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            route(&Method::GET, "/v20180820/jobsx").unwrap_err().status,
            404
        );
        assert_eq!(
            route(&Method::GET, "/v20180820/jobs/a/b/c")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(route(&Method::GET, "/").unwrap_err().status, 404);
        assert_eq!(
            route(&Method::GET, "/v20180820/jobs/%zz").unwrap_err().code,
            "BadRequestException"
        );
    }
}

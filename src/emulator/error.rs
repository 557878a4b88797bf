//! Errors: the ones the emulator answers on the wire ([`ApiError`]) and the ones its library
//! API returns ([`EmulatorError`]).

use std::path::PathBuf;

/// An error response as S3 Control sends it: the client picks the variant by `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn not_found(id: &str) -> Self {
        Self::new(
            "NotFoundException",
            400,
            format!("The specified job {id} does not exist"),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new("BadRequestException", 400, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", 400, message)
    }

    pub fn invalid_next_token() -> Self {
        Self::new(
            "InvalidNextTokenException",
            400,
            "The nextToken is not valid",
        )
    }

    pub fn job_status(message: impl Into<String>) -> Self {
        Self::new("JobStatusException", 400, message)
    }

    pub fn idempotency(token: &str) -> Self {
        Self::new(
            "IdempotencyException",
            400,
            format!("ClientRequestToken {token} was already used with a different request"),
        )
    }

    pub fn too_many_tags(n: usize) -> Self {
        Self::new(
            "TooManyTagsException",
            400,
            format!("{n} tags given; a job holds at most 50"),
        )
    }

    pub fn throttled() -> Self {
        Self::new(
            "TooManyRequestsException",
            400,
            "Please reduce your request rate",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            "InternalServiceException",
            500,
            "We encountered an internal error. Please try again.",
        )
    }

    pub fn unknown_operation(method: &str, path: &str) -> Self {
        Self::new(
            "UnknownOperationException",
            404,
            format!("No S3 Control job operation matches {method} {path}"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            "MethodNotAllowed",
            405,
            format!("{method} is not allowed on {path}"),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "EntityTooLarge",
            413,
            format!("The request body exceeds {limit} bytes"),
        )
    }
}

/// Why the emulator could not start or save.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the state file {path}: {source}")]
    ReadState {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the state file {path} is not a valid emulator state: {source}; move it away to start fresh")]
    ParseState {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the state file {path}: {source}")]
    WriteState {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid emulator option: {0}")]
    Option(String),
}

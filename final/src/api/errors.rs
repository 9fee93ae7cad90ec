//! Errors as the status codes Docker's clients act on.
//!
//! The status is not decoration: the docker CLI reads a 404 from `POST /containers/create` as
//! "the image is missing", pulls it and tries again, so a 404 there for anything else (a bad
//! name, a missing volume) sends it pulling an image that exists. 409 means "conflicts with
//! the current state" (a name in use, a running container), 400 "your request is wrong", 500
//! "our fault". The body is always `{"message": ...}` with `Content-Type: application/json`
//! exactly (chapter 4's [`HttpError`]).

use berth_daemon::http::HttpError;
use berth_images::container::ContainerError;
use berth_images::store::StoreError;
use berth_registry::RegistryError;

use crate::engine::EngineError;

// ANCHOR: engine_error
/// An engine error as the status Docker uses for it.
pub fn engine_error(error: EngineError) -> HttpError {
    let message = error.to_string();
    match error {
        EngineError::NoSuchContainer(_) | EngineError::NoSuchExec(_) => {
            HttpError::not_found(message)
        }
        EngineError::NotRunning(_)
        | EngineError::RemoveRunning(_)
        | EngineError::AlreadyPaused(_)
        | EngineError::NotPaused(_)
        | EngineError::Paused(_)
        | EngineError::RemoveRestarting(_) => HttpError::conflict(message),
        EngineError::AlreadyRunning(_) => HttpError::new(304, message),
        EngineError::Invalid(_) => HttpError::bad_request(message),
        EngineError::Start { .. }
        | EngineError::Launch { .. }
        | EngineError::Extension { .. }
        | EngineError::Io { .. }
        | EngineError::Exec { .. }
        | EngineError::Signal { .. } => HttpError::internal(message),
        EngineError::Store(e) => store_error(e),
        EngineError::Container(e) => container_error(e),
    }
}
// ANCHOR_END: engine_error

/// A chapter 2 container error.
pub fn container_error(error: ContainerError) -> HttpError {
    let message = error.to_string();
    match error {
        ContainerError::Store(e) => store_error(e),
        ContainerError::NoSuchContainer(_) => HttpError::not_found(message),
        ContainerError::NameInUse { .. } | ContainerError::Running(_) => {
            HttpError::conflict(message)
        }
        ContainerError::BadName(_) | ContainerError::NoCommand | ContainerError::User(_) => {
            HttpError::bad_request(message)
        }
        _ => HttpError::internal(message),
    }
}

/// A chapter 2 store error.
pub fn store_error(error: StoreError) -> HttpError {
    match error {
        // Docker's words, which the CLI's pull-and-retry logic does not parse but users know.
        StoreError::NoSuchImage(name) => HttpError::not_found(format!("No such image: {name}")),
        StoreError::InUse { .. } | StoreError::MultipleNames { .. } => {
            HttpError::conflict(error.to_string())
        }
        StoreError::Ambiguous { .. } | StoreError::Reference(_) | StoreError::BadRoot(_) => {
            HttpError::bad_request(error.to_string())
        }
        _ => HttpError::internal(error.to_string()),
    }
}

// ANCHOR: registry_error
/// A registry error found *before* any progress was sent, as a real HTTP error.
pub fn registry_error(error: RegistryError) -> HttpError {
    let message = error.to_string();
    match error {
        RegistryError::PullDenied { repository, .. } => HttpError::not_found(format!(
            "pull access denied for {repository}, repository does not exist or may require \
             'docker login'"
        )),
        RegistryError::ManifestUnknown { .. } | RegistryError::NoPlatform { .. } => {
            HttpError::not_found(message)
        }
        RegistryError::Unauthorized { .. } => HttpError::new(401, message),
        RegistryError::PushDenied { .. } => HttpError::new(403, message),
        RegistryError::Reference(_) => HttpError::bad_request(message),
        RegistryError::Store(e) => store_error(e),
        _ => HttpError::internal(message),
    }
}
// ANCHOR_END: registry_error

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_docker() {
        assert_eq!(
            engine_error(EngineError::NoSuchContainer("web".into())).status,
            404
        );
        assert_eq!(
            engine_error(EngineError::RemoveRunning("web".into())).status,
            409
        );
        assert_eq!(engine_error(EngineError::Invalid("bad".into())).status, 400);
        let missing = store_error(StoreError::NoSuchImage("busybox:latest".into()));
        assert_eq!(missing.status, 404);
        assert_eq!(missing.message, "No such image: busybox:latest");
        let denied = registry_error(RegistryError::PullDenied {
            repository: "nope".into(),
            message: "NAME_UNKNOWN".into(),
        });
        assert_eq!(denied.status, 404);
        assert_eq!(
            denied.message,
            "pull access denied for nope, repository does not exist or may require 'docker login'"
        );
    }
}

//! Docker's JSON progress stream, fed by chapter 3's progress events.
//!
//! `docker pull` and `docker push` answer `200` with `Content-Type: application/json` and a
//! body that is a sequence of JSON objects, one per chunk, each flushed as it happens:
//! `{"status":"Downloading","progressDetail":{"current":..,"total":..},"id":"<layer>"}`. The
//! client renders them (bars on a terminal, one line per message elsewhere). Errors have two
//! forms, and which one depends on *time*:
//!
//! * before the first message, the status line has not been sent, so a failure is a real
//!   HTTP error (`404 pull access denied for x, ...`): the client prints it and exits 1;
//! * after it, the only way left is a message `{"errorDetail":{"message":..},"error":..}`,
//!   which also makes the client exit 1.
//!
//! So the work runs on a thread of its own, and the handler waits for its first message
//! before deciding which kind of answer to give: [`stream_work`].

use std::sync::mpsc;
use std::thread;

use berth_daemon::http::{HttpError, Response};
use berth_registry::RegistryError;
use berth_registry::progress::{Event, LayerState, Progress};
use serde_json::{Value, json};

use super::errors;

/// What the worker thread tells the handler.
enum Message {
    /// A progress message, ready to send.
    Json(Value),
    /// The work failed.
    Failed(RegistryError),
}

/// A [`Progress`] that turns events into Docker's messages and sends them to the handler.
struct Channel {
    sender: mpsc::Sender<Message>,
}

impl Progress for Channel {
    fn event(&mut self, event: Event) {
        // The client may have gone; the work goes on (as a pull in dockerd does).
        let _ = self.sender.send(Message::Json(message(event)));
    }
}

// ANCHOR: message
/// One progress event as Docker's JSON message.
pub fn message(event: Event) -> Value {
    match event {
        Event::Line(line) => {
            // Chapter 3 prints "latest: Pulling from library/busybox" as one line; Docker
            // sends the tag as the id, which the CLI prints in front.
            if let Some((id, from)) = line.split_once(": Pulling from ") {
                return json!({"status": format!("Pulling from {from}"), "id": id});
            }
            json!({"status": line})
        }
        Event::Layer { id, state } => {
            let detail = match &state {
                LayerState::Downloading { current, total } => {
                    json!({"current": current, "total": total})
                }
                _ => json!({}),
            };
            json!({"status": state.status(), "progressDetail": detail, "id": id})
        }
    }
}
// ANCHOR_END: message

/// The message that ends a stream with an error.
pub fn error_message(message: &str) -> Value {
    json!({"errorDetail": {"message": message}, "error": message})
}

// ANCHOR: stream_work
/// Runs `work` on its own thread and answers with its progress: an HTTP error if it fails
/// before its first message, else a stream that ends with the messages `work` returns (or an
/// `errorDetail`).
pub fn stream_work<F>(name: &str, work: F) -> Result<Response, HttpError>
where
    F: FnOnce(&mut dyn Progress) -> Result<Vec<Value>, RegistryError> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel();
    let done = sender.clone();
    thread::Builder::new()
        .name(format!("berth-{name}"))
        .spawn(move || {
            let mut progress = Channel { sender };
            match work(&mut progress) {
                Ok(last) => {
                    for value in last {
                        let _ = done.send(Message::Json(value));
                    }
                }
                Err(error) => {
                    let _ = done.send(Message::Failed(error));
                }
            }
        })
        .map_err(|e| HttpError::internal(format!("cannot start the {name}: {e}")))?;
    let first = match receiver.recv() {
        Ok(Message::Json(value)) => Some(value),
        Ok(Message::Failed(error)) => return Err(errors::registry_error(error)),
        Err(_) => None, // finished without a word
    };
    Ok(Response::stream(200, "application/json", move |body| {
        if let Some(first) = first {
            body.send_json(&first)?;
        }
        for message in receiver {
            match message {
                Message::Json(value) => body.send_json(&value)?,
                Message::Failed(error) => {
                    body.send_json(&error_message(&error.to_string()))?;
                    break;
                }
            }
        }
        Ok(())
    }))
}
// ANCHOR_END: stream_work

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_docker_messages() {
        assert_eq!(
            message(Event::Line("latest: Pulling from library/busybox".into())),
            json!({"status": "Pulling from library/busybox", "id": "latest"})
        );
        assert_eq!(
            message(Event::Layer {
                id: "3f57d9401f8d".into(),
                state: LayerState::Downloading {
                    current: 10,
                    total: 20
                }
            }),
            json!({"status": "Downloading", "progressDetail": {"current": 10, "total": 20},
                   "id": "3f57d9401f8d"})
        );
        assert_eq!(
            message(Event::Layer {
                id: "a".into(),
                state: LayerState::MountedFrom("library/busybox".into())
            })["status"],
            "Mounted from library/busybox"
        );
    }

    #[test]
    fn an_early_failure_is_an_http_error() {
        let result = stream_work("test", |_| {
            Err(RegistryError::PullDenied {
                repository: "x".into(),
                message: "denied".into(),
            })
        });
        assert_eq!(result.unwrap_err().status, 404);
        let ok = stream_work("test", |progress| {
            progress.event(Event::Line("hello".into()));
            Ok(vec![json!({"status": "bye"})])
        })
        .unwrap();
        assert!(ok.is_stream());
    }
}

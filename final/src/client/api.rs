//! Typed calls to the Docker Engine API.
//!
//! One method per request the CLI makes, named after Docker's endpoint, so that the verbs read
//! as the request sequences recorded in docker-api.md §2. Paths are *unversioned*: a daemon
//! answers those at its own newest API version, which saves the `/_ping` round trip that
//! version negotiation costs (docker pings before every command) and works with any dockerd.
//!
//! Errors stay [`ClientError`]s here; the verbs decide which exit code they mean.

use berth_daemon::http::{Client, ClientError, ClientRequest, ClientResponse, Hijacked};
use serde::Deserialize;
use serde_json::Value;

/// The API version whose shapes this client sends and expects.
pub const API_VERSION: &str = "1.50";

/// The daemon's answer to `POST /containers/create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Created {
    /// The new container's id.
    pub id: String,
    /// Anything the daemon wants the user to know.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// The daemon's answer to a wait: the exit code, or why waiting failed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResult {
    /// The container's exit code.
    pub status_code: i64,
    /// Set when the daemon could not wait (Docker: any non-null `Error` means exit 125).
    #[serde(default)]
    pub error: Option<WaitError>,
}

/// `Error` in a wait result.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

/// Which process a resize is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A container's main process.
    Container(&'a str),
    /// An exec'd process.
    Exec(&'a str),
}

impl Target<'_> {
    fn resize_path(self) -> String {
        match self {
            Target::Container(id) => format!("/containers/{id}/resize"),
            Target::Exec(id) => format!("/exec/{id}/resize"),
        }
    }
}

/// The Docker Engine API of one daemon.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client,
}

impl Api {
    /// The API behind `client`.
    pub fn new(client: Client) -> Self {
        Api { client }
    }

    /// The HTTP client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a request, turning 4xx/5xx into [`ClientError::Api`].
    pub fn call(&self, request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        self.client.send(request)?.error_for_status()
    }

    /// Sends a request whose body `write_body` streams (a tar, an archive), turning 4xx/5xx
    /// into [`ClientError::Api`].
    pub fn call_streaming(
        &self,
        request: &ClientRequest,
        write_body: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<ClientResponse, ClientError> {
        self.client
            .send_streaming(request, write_body)?
            .error_for_status()
    }

    /// Sends a request and reads a JSON answer.
    pub fn json(&self, request: &ClientRequest) -> Result<Value, ClientError> {
        self.call(request)?.json()
    }

    /// `GET /version`.
    pub fn version(&self) -> Result<Value, ClientError> {
        self.json(&ClientRequest::get("/version"))
    }

    /// `GET /info`.
    pub fn info(&self) -> Result<Value, ClientError> {
        self.json(&ClientRequest::get("/info"))
    }

    /// `POST /containers/create[?name=]`. A 404 means the image is missing (the daemon keeps
    /// 404 for that alone, so `run` can pull and retry); it comes back as `Ok(Err(message))`.
    pub fn create(
        &self,
        body: &Value,
        name: Option<&str>,
    ) -> Result<Result<Created, String>, ClientError> {
        let mut request = ClientRequest::post("/containers/create").json(body)?;
        if let Some(name) = name {
            request = request.query("name", name);
        }
        let response = self.client.send(&request)?;
        if response.status() == 404 {
            let Err(ClientError::Api { message, .. }) = response.error_for_status() else {
                return Err(ClientError::Malformed {
                    reason: "a 404 that is not an error".into(),
                });
            };
            return Ok(Err(message));
        }
        Ok(Ok(response.error_for_status()?.json()?))
    }

    /// `POST /containers/{id}/attach`, hijacked: the container's output (and stdin) as a raw
    /// socket. `stream=1` asks for everything from now on; `logs` is not asked for.
    pub fn attach(&self, id: &str, stdin: bool) -> Result<Hijacked, ClientError> {
        let mut request = ClientRequest::post(&format!("/containers/{id}/attach"))
            .query("stderr", "1")
            .query("stdout", "1")
            .query("stream", "1")
            .header("Content-Type", "text/plain");
        if stdin {
            request = request.query("stdin", "1");
        }
        self.client.hijack(&request)
    }

    /// `POST /containers/{id}/wait?condition=`. Returns once the *head* has arrived (the
    /// daemon sends it at once), so that `start` cannot race past the wait; read the body with
    /// [`Api::wait_result`] when the container is expected to be done.
    pub fn wait(&self, id: &str, condition: &str) -> Result<ClientResponse, ClientError> {
        self.call(
            &ClientRequest::post(&format!("/containers/{id}/wait")).query("condition", condition),
        )
    }

    /// Reads the body of a [`wait`](Api::wait).
    pub fn wait_result(response: ClientResponse) -> Result<WaitResult, ClientError> {
        response.json()
    }

    /// `POST /containers/{id}/start`.
    pub fn start(&self, id: &str) -> Result<(), ClientError> {
        self.call(&ClientRequest::post(&format!("/containers/{id}/start")))
            .map(drop)
    }

    /// `POST /containers/{id}/resize` or `/exec/{id}/resize`.
    pub fn resize(&self, target: Target<'_>, rows: u16, cols: u16) -> Result<(), ClientError> {
        self.call(
            &ClientRequest::post(&target.resize_path())
                .query("h", rows.to_string())
                .query("w", cols.to_string()),
        )
        .map(drop)
    }

    /// `POST /containers/{id}/kill[?signal=]`.
    pub fn kill(&self, id: &str, signal: Option<&str>) -> Result<(), ClientError> {
        let mut request = ClientRequest::post(&format!("/containers/{id}/kill"));
        if let Some(signal) = signal {
            request = request.query("signal", signal);
        }
        self.call(&request).map(drop)
    }

    /// `POST /containers/{id}/stop[?t=]`.
    pub fn stop(&self, id: &str, seconds: Option<u32>) -> Result<(), ClientError> {
        let mut request = ClientRequest::post(&format!("/containers/{id}/stop"));
        if let Some(t) = seconds {
            request = request.query("t", t.to_string());
        }
        self.call(&request).map(drop)
    }

    /// `DELETE /containers/{id}[?force=1]`.
    pub fn remove(&self, id: &str, force: bool) -> Result<(), ClientError> {
        let mut request = ClientRequest::delete(&format!("/containers/{id}"));
        if force {
            request = request.query("force", "1");
        }
        self.call(&request).map(drop)
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect_container(&self, id: &str) -> Result<Value, ClientError> {
        self.json(&ClientRequest::get(&format!("/containers/{id}/json")))
    }

    /// `GET /images/{name}/json`.
    pub fn inspect_image(&self, name: &str) -> Result<Value, ClientError> {
        self.json(&ClientRequest::get(&format!("/images/{name}/json")))
    }

    /// `GET /containers/json[?all=1]`.
    pub fn containers(&self, all: bool) -> Result<Vec<Value>, ClientError> {
        let mut request = ClientRequest::get("/containers/json");
        if all {
            request = request.query("all", "1");
        }
        self.call(&request)?.json()
    }

    /// `GET /images/json`.
    pub fn images(&self) -> Result<Vec<Value>, ClientError> {
        self.call(&ClientRequest::get("/images/json"))?.json()
    }

    /// `GET /containers/{id}/logs`: the response, whose body streams (and, with `follow`,
    /// ends when the container stops).
    pub fn logs(&self, id: &str, query: &[(&str, String)]) -> Result<ClientResponse, ClientError> {
        let mut request = ClientRequest::get(&format!("/containers/{id}/logs"));
        for (name, value) in query {
            request = request.query(name, value.clone());
        }
        self.call(&request)
    }

    /// `POST /images/create?fromImage=&tag=`: a pull, answered with a progress stream.
    pub fn pull(
        &self,
        from_image: &str,
        tag: &str,
        auth: Option<&str>,
    ) -> Result<ClientResponse, ClientError> {
        let mut request = ClientRequest::post("/images/create")
            .query("fromImage", from_image)
            .query("tag", tag);
        if let Some(auth) = auth {
            request = request.header("X-Registry-Auth", auth);
        }
        self.call(&request)
    }

    /// `POST /images/{name}/push?tag=`: answered with a progress stream.
    pub fn push(
        &self,
        name: &str,
        tag: &str,
        auth: Option<&str>,
    ) -> Result<ClientResponse, ClientError> {
        let mut request = ClientRequest::post(&format!("/images/{name}/push")).query("tag", tag);
        if let Some(auth) = auth {
            request = request.header("X-Registry-Auth", auth);
        }
        self.call(&request)
    }

    /// `POST /images/{source}/tag?repo=&tag=`.
    pub fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<(), ClientError> {
        self.call(
            &ClientRequest::post(&format!("/images/{source}/tag"))
                .query("repo", repo)
                .query("tag", tag),
        )
        .map(drop)
    }

    /// `DELETE /images/{name}[?force=1]`: what was untagged and deleted.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Value>, ClientError> {
        let mut request = ClientRequest::delete(&format!("/images/{name}"));
        if force {
            request = request.query("force", "1");
        }
        self.call(&request)?.json()
    }

    /// `POST /containers/{id}/exec`: the new exec's id.
    pub fn exec_create(&self, container: &str, body: &Value) -> Result<String, ClientError> {
        let created: Value =
            self.json(&ClientRequest::post(&format!("/containers/{container}/exec")).json(body)?)?;
        created["Id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Malformed {
                reason: "the exec create answer has no Id".into(),
            })
    }

    /// `POST /exec/{id}/start`, hijacked.
    pub fn exec_start(&self, id: &str, body: &Value) -> Result<Hijacked, ClientError> {
        self.client
            .hijack(&ClientRequest::post(&format!("/exec/{id}/start")).json(body)?)
    }

    /// `POST /exec/{id}/start` with `Detach: true`: no stream.
    pub fn exec_start_detached(&self, id: &str, body: &Value) -> Result<(), ClientError> {
        self.call(&ClientRequest::post(&format!("/exec/{id}/start")).json(body)?)
            .map(drop)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<Value, ClientError> {
        self.json(&ClientRequest::get(&format!("/exec/{id}/json")))
    }

    /// `POST /auth`: checks credentials with a registry through the daemon.
    pub fn auth(&self, body: &Value) -> Result<Value, ClientError> {
        self.json(&ClientRequest::post("/auth").json(body)?)
    }
}

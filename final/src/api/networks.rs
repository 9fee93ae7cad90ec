//! `/networks/...`, and the network fields of create and inspect, on chapter 7's networks.
//!
//! `docker network create/ls/inspect/rm/prune/connect/disconnect` map onto chapter 7's store
//! of networks ([`berth_network::network::Networks`]) and its engine extension
//! ([`berth_network::engine::NetworkExtension`], which the engine runs at every start and removal). The answers are
//! dockerd's, asked of a real one in a network namespace of its own: the JSON shapes, and the
//! statuses, which are not always the obvious ones (a network in use is a 403, not a 409; a
//! duplicate name is a 409, as dockerd with API 1.44 and later).
//!
//! A container's networks arrive in `HostConfig.NetworkMode` and
//! `NetworkingConfig.EndpointsConfig` (`--ip`, `--network-alias`): [`decode`] turns them into
//! the record's `"network"` slot; `docker inspect` shows them back in `NetworkSettings`.
//! Published ports arrive in `HostConfig.PortBindings` (`-p`) and `PublishAllPorts` (`-P`,
//! with the request's and the image's `ExposedPorts`): they go to the same slot, and come
//! back as `NetworkSettings.Ports` while the container runs (what `docker port` reads) and
//! as `docker ps`'s `Ports`.

use std::sync::Arc;

use berth_daemon::engine::ExtensionError;
use berth_daemon::http::{HttpError, Request, Response, Router};
use berth_images::container::ContainerRecord;
use berth_network::engine::{self as net, EndpointSettings, EngineNetError, Mode, Settings};
use berth_network::files::EtcFiles;
use berth_network::ipam::{self, IpamError, Subnet};
use berth_network::network::{Network, NetworkError, NetworkOptions, Networks};
use berth_network::ports::{self, ApiPortBindings, ContainerPort, PortError};
use serde_json::{Map, Value, json};

use super::filters::{Filters, label_matches};
use super::{Daemon, Route, param, with_daemon};
use crate::engine::ContainerView;

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .get("/networks", d(list))
        .post("/networks/create", d(create))
        .post("/networks/prune", d(prune))
        .post("/networks/{id}/connect", d(connect))
        .post("/networks/{id}/disconnect", d(disconnect))
        .route("GET", "/networks/{id}", d(inspect))
        .delete("/networks/{id}", d(remove))
}

// ANCHOR: errors
/// Chapter 7's errors as dockerd's statuses.
pub fn network_error(error: ExtensionError) -> HttpError {
    let message = error.to_string();
    if let Some(e) = error.downcast_ref::<NetworkError>() {
        let status = match e {
            NetworkError::NotFound(_) => 404,
            NetworkError::Exists(_) => 409,
            NetworkError::Overlaps { .. }
            | NetworkError::InUse { .. }
            | NetworkError::Predefined(_) => 403,
            NetworkError::BadName(_) | NetworkError::GatewayOutside { .. } => 400,
            NetworkError::Ipam { source, .. } => ipam_status(source),
            _ => 500,
        };
        return HttpError::new(status, message);
    }
    if let Some(e) = error.downcast_ref::<EngineNetError>() {
        let status = match e {
            EngineNetError::NoContainer(_) => 404,
            EngineNetError::AlreadyAttached { .. } => 403,
            EngineNetError::IpOnPredefined
            | EngineNetError::AliasOnPredefined
            | EngineNetError::NotNetworksMode { .. } => 400,
            EngineNetError::NotRunning(_) => 409,
            EngineNetError::Network(NetworkError::NotFound(_)) => 404,
            _ => 500,
        };
        return HttpError::new(status, message);
    }
    HttpError::internal(message)
}
// ANCHOR_END: errors

fn ipam_status(error: &IpamError) -> u16 {
    match error {
        IpamError::OutOfSubnet { .. } | IpamError::Reserved { .. } => 400,
        IpamError::Taken { .. } => 403,
        _ => 500,
    }
}

fn store_error(error: NetworkError) -> HttpError {
    network_error(error.into())
}

fn networks(daemon: &Daemon) -> Result<Networks, HttpError> {
    daemon.network.networks().map_err(store_error)
}

/// Docker's RFC 3339 time of a network's creation.
fn created(network: &Network) -> String {
    berth_images::text::format_rfc3339(network.created, 0)
}

// ANCHOR: network_json
/// A network as `GET /networks` and `GET /networks/{id}` show it (`containers`: the latter's
/// `Containers`, empty in a list, as in dockerd).
fn network_json(network: &Network, containers: Map<String, Value>) -> Value {
    let config: Vec<Value> = match network.addressing() {
        Some((subnet, gateway)) => {
            vec![json!({"Subnet": subnet.to_string(), "Gateway": gateway.to_string()})]
        }
        None => Vec::new(),
    };
    let mut options = Map::new();
    if network.name == "bridge"
        && let Some(bridge) = &network.bridge
    {
        options.insert(
            "com.docker.network.bridge.default_bridge".into(),
            json!("true"),
        );
        options.insert("com.docker.network.bridge.name".into(), json!(bridge));
    }
    json!({
        "Name": network.name,
        "Id": network.id,
        "Created": created(network),
        "Scope": "local",
        "Driver": network.driver.as_str(),
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": network.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": network.labels,
    })
}
// ANCHOR_END: network_json

/// `GET /networks?filters=` (`name` part of the name, `id` prefix, `label`, `driver`, `type`
/// `builtin`/`custom`).
fn list(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let filters = Filters::from_request(req, &["name", "id", "label", "driver", "type"])?;
    for kind in filters.values("type") {
        if !matches!(kind.as_str(), "builtin" | "custom") {
            return Err(HttpError::bad_request(format!(
                "invalid filter: 'type'='{kind}'"
            )));
        }
    }
    let mut shown = Vec::new();
    for network in networks(daemon)?.list().map_err(store_error)? {
        let keep = filters.accepts("name", |n| network.name.contains(n))
            && filters.accepts("id", |i| network.id.starts_with(i))
            && filters
                .values("label")
                .iter()
                .all(|l| label_matches(&network.labels, l))
            && filters.accepts("driver", |d| d == network.driver.as_str())
            && filters.accepts("type", |t| (t == "builtin") == network.predefined());
        if keep {
            shown.push(network_json(&network, Map::new()));
        }
    }
    Ok(Response::json(200, &shown))
}

/// `GET /networks/{id}`, with the containers that have an address on it.
fn inspect(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let networks = networks(daemon)?;
    let network = networks.find(&param(req, "id")).map_err(store_error)?;
    let mut containers = Map::new();
    for (address, owner) in networks.pool(&network).map_err(store_error)?.addresses {
        let Ok(view) = daemon.engine.container(&owner) else {
            continue;
        };
        let prefix = network.subnet.map_or(32, |s| s.prefix());
        containers.insert(
            owner.clone(),
            json!({
                "Name": view.record.name,
                "EndpointID": endpoint_id(&network, &owner),
                "MacAddress": ipam::format_mac(ipam::mac_for(address)),
                "IPv4Address": format!("{address}/{prefix}"),
                "IPv6Address": "",
            }),
        );
    }
    Ok(Response::json(200, &network_json(&network, containers)))
}

fn endpoint_id(network: &Network, container: &str) -> String {
    net::endpoint_id(&network.id, container)
}

// ANCHOR: create
/// `POST /networks/create` `{Name, Driver, Internal, IPAM: {Config: [{Subnet, Gateway}]},
/// Labels, Options, EnableIPv6}`: 201 `{Id, Warning}`.
fn create(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let body: Value = req.json()?;
    let text = |field: &str| body.get(field).and_then(Value::as_str).unwrap_or_default();
    let name = text("Name");
    if name.is_empty() {
        return Err(HttpError::bad_request("network name is required (Name)"));
    }
    match text("Driver") {
        "" | "bridge" => {}
        // dockerd looks an unknown driver up as a plugin.
        other => return Err(HttpError::not_found(format!("plugin {other:?} not found"))),
    }
    if body.get("EnableIPv6").and_then(Value::as_bool) == Some(true) {
        return Err(HttpError::bad_request(
            "--ipv6 is not supported by berthd: its networks are IPv4 only",
        ));
    }
    if body.get("Ingress").and_then(Value::as_bool) == Some(true) {
        return Err(HttpError::bad_request(
            "--ingress is for swarm mode, which berthd has not",
        ));
    }
    if body
        .get("Options")
        .and_then(Value::as_object)
        .is_some_and(|o| !o.is_empty())
    {
        return Err(HttpError::bad_request(
            "--opt is not supported by berthd yet (Options): the network was not created",
        ));
    }
    let configs = body
        .pointer("/IPAM/Config")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if configs.len() > 1 {
        return Err(HttpError::bad_request(
            "berthd networks have one IPv4 subnet: give --subnet once",
        ));
    }
    let config = configs.first().cloned().unwrap_or(Value::Null);
    let field = |name: &str| {
        config
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if field("IPRange").is_some()
        || config
            .get("AuxiliaryAddresses")
            .is_some_and(|a| a.as_object().is_some_and(|o| !o.is_empty()))
    {
        return Err(HttpError::bad_request(
            "--ip-range and --aux-address are not supported by berthd yet",
        ));
    }
    let subnet = field("Subnet")
        .map(str::parse::<Subnet>)
        .transpose()
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let gateway = field("Gateway")
        .map(ipam::parse_address)
        .transpose()
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    if gateway.is_some() && subnet.is_none() {
        return Err(HttpError::bad_request(
            "a gateway needs a subnet: give --subnet with --gateway",
        ));
    }
    let labels = match body.get("Labels") {
        None | Some(Value::Null) => Default::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| HttpError::bad_request("Labels must be an object of strings"))?,
    };
    let network = networks(daemon)?
        .create(&NetworkOptions {
            name: name.to_owned(),
            subnet,
            gateway,
            internal: body
                .get("Internal")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            labels,
        })
        .map_err(store_error)?;
    Ok(Response::json(
        201,
        &json!({"Id": network.id, "Warning": ""}),
    ))
}
// ANCHOR_END: create

/// Removes `network`, its bridge device and its firewall rules.
fn remove_network(daemon: &Daemon, key: &str) -> Result<Network, HttpError> {
    daemon.network.remove_network(key).map_err(network_error)
}

/// `DELETE /networks/{id}`: 204; 403 for a predefined network or one in use.
fn remove(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    remove_network(daemon, &param(req, "id"))?;
    Ok(Response::no_content())
}

/// `POST /networks/prune?filters=` (`label`): removes the user-defined networks no container
/// has an address on.
fn prune(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let filters = Filters::from_request(req, &["label"])?;
    let store = networks(daemon)?;
    let mut deleted = Vec::new();
    for network in store.list().map_err(store_error)? {
        let labelled = filters
            .values("label")
            .iter()
            .all(|l| label_matches(&network.labels, l));
        let unused = store
            .pool(&network)
            .map_err(store_error)?
            .addresses
            .is_empty();
        if network.user_defined() && labelled && unused {
            // Another client may have taken it meanwhile: then it stays, as in dockerd.
            if remove_network(daemon, &network.id).is_ok() {
                deleted.push(network.name);
            }
        }
    }
    Ok(Response::json(200, &json!({"NetworksDeleted": deleted})))
}

/// The container a connect or disconnect body names (`Container`).
fn container_of(daemon: &Daemon, body: &Value) -> Result<ContainerView, HttpError> {
    let key = body
        .get("Container")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| HttpError::bad_request("Container is required: which container"))?;
    daemon
        .engine
        .container(key)
        .map_err(|_| HttpError::not_found(format!("No such container: {key}")))
}

/// `POST /networks/{id}/connect` `{Container, EndpointConfig: {IPAMConfig: {IPv4Address},
/// Aliases}}`: at once for a running container (its next `ethN`), at its next start otherwise.
fn connect(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let body: Value = req.json()?;
    let view = container_of(daemon, &body)?;
    let endpoint = body.get("EndpointConfig").cloned().unwrap_or(Value::Null);
    let wanted = endpoint_settings(&param(req, "id"), &endpoint)?;
    let pid = view
        .pid
        .filter(|_| view.status == crate::engine::Status::Running);
    daemon
        .network
        .connect(&view.record, pid, wanted)
        .map_err(network_error)?;
    Ok(Response::new(200))
}

/// `POST /networks/{id}/disconnect` `{Container, Force}`.
fn disconnect(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let body: Value = req.json()?;
    let view = container_of(daemon, &body)?;
    daemon
        .network
        .disconnect(&view.record, &param(req, "id"))
        .map_err(network_error)?;
    Ok(Response::new(200))
}

/// One entry of `EndpointsConfig` (or a connect's `EndpointConfig`) for network `network`.
fn endpoint_settings(network: &str, endpoint: &Value) -> Result<EndpointSettings, HttpError> {
    for (field, flag) in [
        ("Links", "--link"),
        ("MacAddress", "--mac-address"),
        ("DriverOpts", "--driver-opt"),
    ] {
        if endpoint.get(field).is_some_and(super::create::is_set) {
            return Err(HttpError::bad_request(format!(
                "{flag} is not supported by berthd yet (EndpointsConfig.{network}.{field})"
            )));
        }
    }
    let ipam = endpoint.get("IPAMConfig").cloned().unwrap_or(Value::Null);
    let text = |field: &str| {
        ipam.get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if text("IPv6Address").is_some() || ipam.get("LinkLocalIPs").is_some_and(super::create::is_set)
    {
        return Err(HttpError::bad_request(
            "--ip6 and --link-local-ip are not supported by berthd: its networks are IPv4 only",
        ));
    }
    let ip = text("IPv4Address")
        .map(ipam::parse_address)
        .transpose()
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let aliases = match endpoint.get("Aliases") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| HttpError::bad_request("Aliases must be a list of strings"))?,
    };
    Ok(EndpointSettings {
        network: network.to_owned(),
        ip,
        aliases,
    })
}

// ANCHOR: decode
/// The `"network"` slot of a create: `HostConfig.NetworkMode` and
/// `NetworkingConfig.EndpointsConfig`. The CLI names the network in both (`--network front
/// --ip 10.1.0.5` sends `NetworkMode: "front"` and `EndpointsConfig: {"front": {IPAMConfig:
/// {IPv4Address: "10.1.0.5"}}}`); docker-compose may add further networks in
/// `EndpointsConfig`.
pub fn decode(
    host: &Value,
    networking: Option<&Value>,
    body: &Value,
) -> Result<Settings, HttpError> {
    let mode_text = host
        .get("NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (mode, primary) = Mode::parse(mode_text);
    let publish_all = host
        .get("PublishAllPorts")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut settings = Settings {
        mode,
        endpoints: Vec::new(),
        publish_all,
        ports: Vec::new(),
        port_bindings: port_bindings(host)?,
        exposed: exposed_ports(body.get("ExposedPorts"))?,
        extra_hosts: extra_hosts(host)?,
    };
    // A port published with `-p` is exposed too, as dockerd shows it.
    for key in settings.port_bindings.keys() {
        let port: ContainerPort = key.parse().map_err(bad_port)?;
        if !settings.exposed.contains(&port) {
            settings.exposed.push(port);
        }
    }
    settings.exposed.sort();
    publish(&mut settings, &[])?;
    let configs = networking
        .and_then(|n| n.get("EndpointsConfig"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if matches!(settings.mode, Mode::Container(_)) && !settings.extra_hosts.is_empty() {
        // Its `/etc/hosts` is the other container's.
        return Err(HttpError::bad_request(
            "conflicting options: custom host-to-IP mapping and the network mode",
        ));
    }
    if settings.mode != Mode::Networks {
        // `none`, `host`, `container:X`: an endpoint config may only repeat the mode's name.
        let named = |k: &String| k == mode_text || k == "default";
        if let Some((k, _)) = configs.iter().find(|(k, v)| !named(k) || is_configured(v)) {
            return Err(HttpError::bad_request(format!(
                "container sharing network namespace or in network mode {mode_text:?} cannot \
                 have endpoint settings ({k})"
            )));
        }
        return Ok(settings);
    }
    // `default` is the daemon's default network, `bridge`.
    let named = |k: &str| if k == "default" { "bridge" } else { k }.to_owned();
    let primary = primary.map(|p| named(&p));
    if let Some(primary) = &primary {
        let config = configs
            .iter()
            .find(|(k, _)| named(k) == *primary)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        settings
            .endpoints
            .push(endpoint_settings(primary, &config)?);
    }
    for (key, config) in &configs {
        let network = named(key);
        if Some(&network) == primary.as_ref() {
            continue;
        }
        if primary.is_none() && network == "bridge" && !is_configured(config) {
            continue; // the CLI's empty `default` entry: the default network, as no entry
        }
        settings
            .endpoints
            .push(endpoint_settings(&network, config)?);
    }
    Ok(settings)
}
// ANCHOR_END: decode

/// `HostConfig.ExtraHosts` (`--add-host`, compose's `extra_hosts`), each checked here so that
/// a bad one is a 400 at create, not a failed start.
fn extra_hosts(host: &Value) -> Result<Vec<String>, HttpError> {
    let entries: Vec<String> = match host.get("ExtraHosts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            HttpError::bad_request(format!("HostConfig.ExtraHosts: a list of strings: {e}"))
        })?,
    };
    for entry in &entries {
        berth_network::files::parse_extra_host(entry)
            .map_err(|e| HttpError::bad_request(e.to_string()))?;
    }
    Ok(entries)
}

// ANCHOR: port_bindings
/// `HostConfig.PortBindings` (`-p`): container port to host bindings, checked here so that a
/// bad one is a 400 at create, not a failed start.
fn port_bindings(host: &Value) -> Result<ApiPortBindings, HttpError> {
    match host.get("PortBindings") {
        None | Some(Value::Null) => Ok(ApiPortBindings::new()),
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
            HttpError::bad_request(format!(
                "invalid HostConfig.PortBindings: {e} (expected {{\"80/tcp\": [{{\"HostIp\": \"\", \"HostPort\": \"8080\"}}]}})"
            ))
        }),
    }
}
// ANCHOR_END: port_bindings

/// Adds the image's exposed ports `image` to `settings` and reads again what it publishes:
/// `-p`'s bindings, and with `-P` every exposed port (see [`ports::from_api`]).
pub fn publish(settings: &mut Settings, image: &[ContainerPort]) -> Result<(), HttpError> {
    for port in image {
        if !settings.exposed.contains(port) {
            settings.exposed.push(*port);
        }
    }
    settings.exposed.sort();
    settings.ports = ports::from_api(
        &settings.port_bindings,
        settings.publish_all,
        &settings.exposed,
    )
    .map_err(bad_port)?;
    Ok(())
}

/// The keys of an `ExposedPorts` object (the request's, or an image config's).
pub fn exposed_ports(value: Option<&Value>) -> Result<Vec<ContainerPort>, HttpError> {
    let Some(Value::Object(map)) = value else {
        return Ok(Vec::new());
    };
    map.keys().map(|k| k.parse().map_err(bad_port)).collect()
}

fn bad_port(e: PortError) -> HttpError {
    HttpError::bad_request(e.to_string())
}

/// Whether an endpoint config asks for anything (the CLI sends empty ones).
fn is_configured(config: &Value) -> bool {
    config
        .as_object()
        .is_some_and(|o| o.values().any(super::create::is_set))
}

/// Checks a create's network settings against the store (the networks exist, `--ip` only on
/// user networks, the container of `container:NAME` exists): a 400 naming what is wrong.
pub fn check(daemon: &Daemon, settings: &Settings) -> Result<(), HttpError> {
    daemon.network.check(settings).map_err(|e| {
        let mapped = network_error(e);
        // A 404 from create makes the CLI pull the image again: say it with a 400.
        if mapped.status == 404 {
            HttpError::bad_request(mapped.message)
        } else {
            mapped
        }
    })
}

// ANCHOR: settings_json
/// `docker inspect`'s `NetworkSettings`, `HostConfig.NetworkMode` and the paths of the
/// container's `/etc` files.
pub fn inspect_fields(daemon: &Daemon, record: &ContainerRecord, value: &mut Value) {
    let settings = net::settings(record).unwrap_or_default();
    let attachments = daemon.network.attachments(record).unwrap_or_default();
    let wanted = daemon.network.attached(record).unwrap_or_default();
    let mut networks = Map::new();
    let zero = |network_id: &str| {
        json!({
            "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
            "DriverOpts": null, "NetworkID": network_id, "EndpointID": "", "Gateway": "",
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DNSNames": null,
        })
    };
    value["HostConfig"]["ExtraHosts"] =
        json!((!settings.extra_hosts.is_empty()).then_some(&settings.extra_hosts));
    let store = daemon.network.networks().ok();
    let find = |key: &str| store.as_ref().and_then(|s| s.find(key).ok());
    match &settings.mode {
        Mode::None | Mode::Host => {
            let name = settings.mode.as_docker(None);
            let id = find(&name).map(|n| n.id).unwrap_or_default();
            networks.insert(name, zero(&id));
        }
        Mode::Container(_) => {}
        Mode::Networks => {
            for w in &wanted {
                let Some(network) = find(&w.network) else {
                    continue;
                };
                let mut entry = zero(&network.id);
                if let Some(ip) = w.ip {
                    entry["IPAMConfig"] = json!({"IPv4Address": ip.to_string()});
                }
                if network.user_defined() {
                    // The short id is an alias too, once: compose 1.29 connects with it in
                    // its own aliases already, and dockerd then adds no second one.
                    let mut aliases = w.aliases.clone();
                    let short: String = record.id.chars().take(12).collect();
                    if !aliases.contains(&short) {
                        aliases.push(short);
                    }
                    entry["Aliases"] = json!(aliases);
                }
                if let Some(a) = attachments.iter().find(|a| a.network.id == network.id) {
                    entry["MacAddress"] = json!(a.mac);
                    entry["EndpointID"] = json!(a.endpoint_id);
                    entry["Gateway"] = json!(a.gateway.to_string());
                    entry["IPAddress"] = json!(a.address.to_string());
                    entry["IPPrefixLen"] = json!(a.prefix);
                }
                networks.insert(network.name.clone(), entry);
            }
        }
    }
    // The top-level fields are the default bridge's, as in dockerd.
    let bridge = networks.get("bridge").cloned().unwrap_or(Value::Null);
    let top = |field: &str, zero: Value| bridge.get(field).cloned().unwrap_or(zero);
    value["NetworkSettings"] = json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": {},
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": top("EndpointID", json!("")),
        "Gateway": top("Gateway", json!("")),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": top("IPAddress", json!("")),
        "IPPrefixLen": top("IPPrefixLen", json!(0)),
        "IPv6Gateway": "",
        "MacAddress": top("MacAddress", json!("")),
        "Networks": networks,
    });
    value["NetworkSettings"]["Ports"] = json!(ports_of(daemon, record, &settings));
    value["HostConfig"]["NetworkMode"] = json!(network_mode(&settings));
    value["HostConfig"]["PortBindings"] = json!(settings.port_bindings);
    value["HostConfig"]["PublishAllPorts"] = json!(settings.publish_all);
    let dir = match &settings.mode {
        Mode::Container(key) => daemon
            .engine
            .container(key)
            .map(|v| v.record.dir(daemon.engine.store()))
            .ok(),
        _ => Some(record.dir(daemon.engine.store())),
    };
    if let Some(dir) = dir {
        let files = EtcFiles::in_dir(&dir);
        value["ResolvConfPath"] = json!(files.resolv_conf);
        value["HostnamePath"] = json!(files.hostname);
        value["HostsPath"] = json!(files.hosts);
    }
}
// ANCHOR_END: settings_json

// ANCHOR: ports_of
/// `NetworkSettings.Ports` as dockerd shows it: while the container runs, every exposed port
/// with the host ports it is published on (`null` if none); `{}` when it does not run, since
/// a stopped container holds no port.
fn ports_of(daemon: &Daemon, record: &ContainerRecord, settings: &Settings) -> ports::PortsMap {
    let running = daemon
        .engine
        .container(&record.id)
        .is_ok_and(|v| v.status == crate::engine::Status::Running);
    if !running || settings.mode != Mode::Networks {
        return ports::PortsMap::new();
    }
    ports::ports_map(&settings.exposed, &daemon.network.published(&record.id))
}
// ANCHOR_END: ports_of

/// `docker ps`'s `Ports`: one entry per binding, and one per port exposed only.
fn ports_list(map: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for (key, bindings) in map.as_object().into_iter().flatten() {
        let Ok(port) = key.parse::<ContainerPort>() else {
            continue;
        };
        match bindings.as_array() {
            None => out.push(json!({"PrivatePort": port.port, "Type": port.proto})),
            Some(list) => {
                for b in list {
                    let public: u16 = b["HostPort"]
                        .as_str()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    out.push(json!({"IP": b["HostIp"], "PrivatePort": port.port,
                                    "PublicPort": public, "Type": port.proto}));
                }
            }
        }
    }
    out
}

/// `HostConfig.NetworkMode` as dockerd shows it: `default` when none was named.
pub fn network_mode(settings: &Settings) -> String {
    match (&settings.mode, settings.endpoints.first()) {
        (Mode::Networks, None) => "default".to_owned(),
        (mode, first) => mode.as_docker(first.map(|e| e.network.as_str())),
    }
}

/// `docker ps`'s `HostConfig` and `NetworkSettings.Networks` of a container.
pub fn list_fields(daemon: &Daemon, record: &ContainerRecord, entry: &mut Value) {
    let mut full = json!({"HostConfig": {}});
    inspect_fields(daemon, record, &mut full);
    entry["HostConfig"] = json!({"NetworkMode": full["HostConfig"]["NetworkMode"]});
    entry["NetworkSettings"] = json!({"Networks": full["NetworkSettings"]["Networks"]});
    entry["Ports"] = json!(ports_list(&full["NetworkSettings"]["Ports"]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(host: &str, networking: &str) -> Result<Settings, HttpError> {
        let host: Value = serde_json::from_str(host).unwrap();
        let networking: Value = serde_json::from_str(networking).unwrap();
        decode(&host, Some(&networking), &json!({}))
    }

    #[test]
    fn the_clis_create_bodies_decode() {
        // `docker run busybox`: the default network, no endpoint of its own.
        let plain = decoded(
            r#"{"NetworkMode":"default"}"#,
            r#"{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null}}}"#,
        )
        .unwrap();
        assert!(plain.is_empty(), "{plain:?}");
        assert_eq!(network_mode(&plain), "default");
        // `docker run --network front --ip 10.1.0.5 --network-alias db busybox`
        let front = decoded(
            r#"{"NetworkMode":"front"}"#,
            r#"{"EndpointsConfig":{"front":{"IPAMConfig":{"IPv4Address":"10.1.0.5"},"Aliases":["db"]}}}"#,
        )
        .unwrap();
        assert_eq!(front.endpoints.len(), 1);
        assert_eq!(front.endpoints[0].ip, Some("10.1.0.5".parse().unwrap()));
        assert_eq!(front.endpoints[0].aliases, ["db"]);
        assert_eq!(network_mode(&front), "front");
        let none = decoded(
            r#"{"NetworkMode":"none"}"#,
            r#"{"EndpointsConfig":{"none":{}}}"#,
        )
        .unwrap();
        assert_eq!(none.mode, Mode::None);
        let shared = decoded(r#"{"NetworkMode":"container:web"}"#, "{}").unwrap();
        assert_eq!(network_mode(&shared), "container:web");
    }

    #[test]
    fn what_cannot_be_honoured_is_refused() {
        let e = decoded(
            r#"{"NetworkMode":"front"}"#,
            r#"{"EndpointsConfig":{"front":{"Links":["a:b"]}}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("--link"), "{}", e.message);
        let e = decoded(
            r#"{"NetworkMode":"host"}"#,
            r#"{"EndpointsConfig":{"front":{}}}"#,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        let e = decoded(
            r#"{"NetworkMode":"front"}"#,
            r#"{"EndpointsConfig":{"front":{"IPAMConfig":{"IPv4Address":"nope"}}}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("\"nope\""), "{}", e.message);
    }
}

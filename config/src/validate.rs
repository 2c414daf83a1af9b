//! One validation pass that lists every problem.

use crate::Config;
use std::net::SocketAddr;

pub(crate) fn problems(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if c.server.listen.parse::<SocketAddr>().is_err() {
        out.push(format!("server.listen `{}` is not a host:port address such as 127.0.0.1:4332", c.server.listen));
    }
    if c.data_dir.as_os_str().is_empty() {
        out.push("data_dir must not be empty".into());
    }
    let ledger = c.ledger.uri.as_str();
    let mongo = ledger.starts_with("mongodb://") || ledger.starts_with("mongodb+srv://");
    if !(ledger.is_empty() || ledger == "memory://" || ledger.starts_with("sqlite://") || mongo) {
        out.push(format!("ledger.uri `{ledger}` must be sqlite://PATH, memory:// or mongodb://HOST:PORT/…"));
    }
    if mongo && c.ledger.namespace.trim().is_empty() {
        out.push("ledger.namespace (the MongoDB database) must not be empty".into());
    }
    if !(c.broker.uri == "local://" || c.broker.uri.starts_with("amqp://") || c.broker.uri.starts_with("amqps://")) {
        out.push(format!("broker.uri `{}` must be local:// or amqp://USER:PASS@HOST:PORT/VHOST", c.broker.uri));
    }
    if !(c.coord.uri == "local://" || c.coord.uri.starts_with("redis://") || c.coord.uri.starts_with("rediss://")) {
        out.push(format!("coord.uri `{}` must be local:// or redis://HOST:PORT/DB", c.coord.uri));
    }
    for (i, u) in c.auth.users.iter().enumerate() {
        if u.name.trim().is_empty() {
            out.push(format!("auth.users[{i}].name must not be empty"));
        }
        if !u.password_hash.starts_with("$argon2id$") {
            out.push(format!(
                "auth.users[{i}] ({}): password_hash must be an Argon2id hash; make one with `aurora hash-password`",
                u.name
            ));
        }
        if !["admin", "operator", "viewer"].contains(&u.role.as_str()) {
            out.push(format!("auth.users[{i}] ({}): role `{}` must be admin, operator or viewer", u.name, u.role));
        }
    }
    if c.auth.token_ttl_secs == 0 {
        out.push("auth.token_ttl_secs must be positive".into());
    }
    if c.worker.slots == 0 {
        out.push("worker.slots must be at least 1".into());
    }
    if !(1..=256).contains(&c.projector.partitions) {
        out.push(format!("projector.partitions must be between 1 and 256, not {}", c.projector.partitions));
    }
    if c.projector.batch_max == 0 {
        out.push("projector.batch_max must be at least 1".into());
    }
    if c.projector.schedule_to_start_secs == 0 {
        out.push("projector.schedule_to_start_secs must be positive".into());
    }
    if !["text", "json"].contains(&c.log.format.as_str()) {
        out.push(format!("log.format `{}` must be text or json", c.log.format));
    }
    out
}

//! One request: the URI cap, the route for this listener, and the access
//! log line. Which listener serves what: HTTPS the API; loopback HTTP the
//! API and the gate; the Unix auth socket the gate only.

use std::net::IpAddr;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::access_log::{self, Entry};
use super::conn::{ConnInfo, Listener};
use super::reply::{self, Body};
use super::route::{self, Route};
use super::state::Front;

/// What a handler learnt, for the access log.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ip: Option<IpAddr>,
    /// The WHM user the daemon authenticated.
    pub user: Option<String>,
    /// Why the front refused without asking the daemon.
    pub note: Option<&'static str>,
}

pub async fn handle(req: Request<Incoming>, info: &ConnInfo, front: &Front) -> Response<Body> {
    let _busy = info.activity.busy();
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let mut out = Outcome::default();
    let resp = dispatch(req, info, front, &mut out).await;
    access_log::record(&Entry {
        listener: info.listener.name(),
        ip: out.ip.or(match info.peer {
            super::client_ip::Peer::Tcp(ip) => Some(ip),
            super::client_ip::Peer::Local => None,
        }),
        method: method.as_str(),
        path: &path,
        query: query.as_deref(),
        status: resp.status().as_u16(),
        user: out.user.as_deref(),
        note: out.note,
        elapsed: started.elapsed(),
    });
    resp
}

async fn dispatch(
    req: Request<Incoming>,
    info: &ConnInfo,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    if info.refuse {
        return reply::closing(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections; try again later\n",
        );
    }
    let target_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > front.web.max_uri_bytes {
        return reply::closing(StatusCode::URI_TOO_LONG, "request target too long\n");
    }
    let path = req.uri().path().to_owned();
    match (info.listener, route::classify(&path)) {
        (Listener::Https | Listener::Http, Route::JsonApi(function)) => {
            super::json_api::handle(req, function, info, front, out).await
        }
        (Listener::Http | Listener::AuthSocket, Route::Auth) => {
            super::auth::handle(req, info, front, out).await
        }
        (Listener::Https, Route::Other) => super::page::handle(req, info, front, out).await,
        (Listener::Https | Listener::Http | Listener::AuthSocket, _) => {
            reply::plain(StatusCode::NOT_FOUND, "not found\n")
        }
    }
}

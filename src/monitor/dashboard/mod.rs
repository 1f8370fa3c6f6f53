//! The live dashboard at `GET /`: one HTML page, its script and its style sheet,
//! embedded in the binary (no build step, nothing fetched from elsewhere, so the page
//! works offline and on an air-gapped host).
//!
//! The page polls the sibling `stats` route (relative URLs, so the router can be nested
//! under a prefix, as a gateway may do) and keeps its own ring of the last 15 minutes of
//! samples; the server keeps no history for it.
//!
//! Caching: each file carries an `ETag` derived from its content at compile time and
//! `Cache-Control: no-cache`, so a browser revalidates (a 304 costs a few bytes) and a
//! new binary's page is never mixed with an old binary's script. The HTML's
//! `Content-Security-Policy` allows only this origin: the page cannot load or send
//! anything elsewhere.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    /// The FNV-1a hash of `body`, the `ETag`'s value.
    hash: u64,
}

const fn asset(body: &'static str, content_type: &'static str) -> Asset {
    Asset {
        body,
        content_type,
        hash: fnv1a(body.as_bytes()),
    }
}

const INDEX: Asset = asset(include_str!("index.html"), "text/html; charset=utf-8");
const SCRIPT: Asset = asset(
    include_str!("dashboard.js"),
    "text/javascript; charset=utf-8",
);
const STYLE: Asset = asset(include_str!("dashboard.css"), "text/css; charset=utf-8");

/// Only this origin, for everything: scripts, styles, images, `fetch`.
const CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The dashboard's routes: `/`, `/dashboard.js`, `/dashboard.css`. Stateless, so they
/// merge into any router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { serve(&INDEX, &h) }))
        .route(
            "/dashboard.js",
            get(|h: HeaderMap| async move { serve(&SCRIPT, &h) }),
        )
        .route(
            "/dashboard.css",
            get(|h: HeaderMap| async move { serve(&STYLE, &h) }),
        )
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.hash);
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if matches(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if asset.content_type.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    (headers, asset.body).into_response()
}

/// Whether `If-None-Match` names `etag` (a list, weak tags and `*` included).
fn matches(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// FNV-1a, 64 bits: small enough for a `const fn`, and a changed file changes the tag.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(asset: &Asset, if_none_match: Option<&str>) -> Response {
        let mut h = HeaderMap::new();
        if let Some(tag) = if_none_match {
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(tag).unwrap());
        }
        serve(asset, &h)
    }

    #[test]
    fn each_file_has_its_content_type_and_a_revalidated_etag() {
        for (asset, ty) in [
            (&INDEX, "text/html"),
            (&SCRIPT, "text/javascript"),
            (&STYLE, "text/css"),
        ] {
            let r = get(asset, None);
            assert_eq!(r.status(), StatusCode::OK);
            let h = r.headers();
            assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with(ty));
            assert_eq!(h[header::CACHE_CONTROL], "no-cache");
            let etag = h[header::ETAG].to_str().unwrap().to_string();
            assert_eq!(etag.len(), 18, "{etag}");

            let again = get(asset, Some(&format!("\"x\", W/{etag}")));
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(again.headers()[header::ETAG], etag.as_str());
            assert_eq!(get(asset, Some("\"other\"")).status(), StatusCode::OK);
        }
    }

    #[test]
    fn only_the_page_carries_the_same_origin_policy() {
        let page = get(&INDEX, None);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert!(get(&SCRIPT, None)
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .is_none());
    }

    #[test]
    fn the_page_loads_nothing_from_another_origin() {
        for asset in [&INDEX, &SCRIPT, &STYLE] {
            // The SVG namespace is a name, not a place the page goes to.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            for needle in ["http://", "https://", "//cdn", "@import"] {
                assert!(!body.contains(needle), "{needle}");
            }
        }
        assert!(INDEX.body.contains("src=\"dashboard.js\""));
        assert!(INDEX.body.contains("href=\"dashboard.css\""));
    }

    #[test]
    fn different_content_gives_a_different_tag() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_ne!(INDEX.hash, SCRIPT.hash);
    }
}

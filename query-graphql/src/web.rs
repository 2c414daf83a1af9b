//! The browser UI (`web/`), served at `/` with its client-side routes: the bundle built into
//! `web/dist/` is embedded in the binary, so running Aurora needs no Node and no files beside it;
//! `server.web_dir` serves a directory instead (for working on the UI without rebuilding Aurora).
//! GraphiQL's page comes from the same bundle, so it works on a machine without internet.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

#[derive(rust_embed::Embed)]
#[folder = "../web/dist"]
struct Bundle;

/// Where the UI's files come from.
#[derive(Debug, Clone, Default)]
pub enum Assets {
    /// The bundle embedded at build time.
    #[default]
    Embedded,
    /// A directory read on every request (`server.web_dir`).
    Dir(PathBuf),
}

impl Assets {
    fn read(&self, file: &str) -> Option<Cow<'static, [u8]>> {
        match self {
            Assets::Embedded => Bundle::get(file).map(|f| f.data),
            Assets::Dir(dir) => {
                let relative = Path::new(file);
                // Only plain names below the directory: no `..`, no absolute paths.
                if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
                    return None;
                }
                std::fs::read(dir.join(relative)).ok().map(Cow::Owned)
            }
        }
    }

    /// The response for the UI path `path`: the file if there is one, else — for a client-side
    /// route (a path without a file extension) — `index.html`, else 404.
    pub fn respond(&self, path: &str) -> Response {
        let file = path.trim_start_matches('/');
        let file = if file.is_empty() { "index.html" } else { file };
        if let Some(bytes) = self.read(file) {
            return serve(file, bytes);
        }
        let is_route = Path::new(file).extension().is_none();
        match (is_route, self.read("index.html")) {
            (true, Some(index)) => serve("index.html", index),
            _ => (StatusCode::NOT_FOUND, format!("no such file: /{file}")).into_response(),
        }
    }

    /// GraphiQL's page (`graphiql.html` of the bundle), if the bundle has one.
    pub fn graphiql(&self) -> Option<Response> {
        self.read("graphiql.html").map(|b| serve("graphiql.html", b))
    }
}

fn serve(file: &str, bytes: Cow<'static, [u8]>) -> Response {
    let mime = mime_guess::from_path(file).first_or_octet_stream();
    // Vite names assets by content hash, so they never change; pages must be revalidated.
    let cache = if file.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response = (StatusCode::OK, bytes.into_owned()).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_routes_get_the_page_and_missing_files_a_404() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("assets")).expect("mkdir");
        std::fs::write(dir.path().join("index.html"), "<html>ui</html>").expect("write");
        std::fs::write(dir.path().join("assets/app-1234.js"), "console.log(1)").expect("write");
        let assets = Assets::Dir(dir.path().to_path_buf());
        let page = assets.respond("/runs/0193");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html");
        let js = assets.respond("/assets/app-1234.js");
        assert_eq!(js.headers()[header::CONTENT_TYPE], "text/javascript");
        assert!(js.headers()[header::CACHE_CONTROL].to_str().unwrap_or_default().contains("immutable"));
        assert_eq!(assets.respond("/assets/missing.js").status(), StatusCode::NOT_FOUND);
        assert_eq!(assets.respond("/../../etc/passwd.txt").status(), StatusCode::NOT_FOUND);
        assert!(Assets::Embedded.respond("/").status() == StatusCode::OK, "the embedded bundle has a page");
    }
}

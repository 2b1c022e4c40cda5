//! HTML output: escaping, the page frame, and the response headers every page carries. Every
//! value that did not come from a constant in this crate goes through [`escape`].

use http::{HeaderValue, StatusCode, header};

/// Escapes text for element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;\
    line-height:1.5;color:#222}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}\
    code,.secret{font-family:ui-monospace,monospace;background:#f3f3f3;padding:.1rem .3rem}\
    .secret{font-size:1.2rem;display:inline-block;margin:.3rem 0}.notice{background:#eef6ee;\
    border:1px solid #9c9;padding:.6rem 1rem}.error{background:#fbeeee;border:1px solid #c99;\
    padding:.6rem 1rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;\
    padding:.3rem;text-align:left;font-size:.9rem}label{display:block;margin:.4rem 0}\
    input[type=text],input[type=password]{width:18rem;padding:.3rem}button{padding:.3rem .8rem}\
    form.inline{display:inline}";

/// A whole page. `title` is escaped here; `body` must already be HTML.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{} – davit</title>\
         <style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// A hidden form field carrying a CSRF token.
pub fn csrf_field(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", escape(token))
}

pub fn notice(text: &str) -> String {
    format!("<p class=\"notice\">{}</p>", escape(text))
}

pub fn error(text: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", escape(text))
}

/// An HTML response. Pages hold one-time secrets and CSRF tokens: never cached, never framed,
/// no scripts at all (the CSP allows only the inline style and the inline SVG QR code).
pub fn response(status: StatusCode, html: String) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(html.into_bytes());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}

/// 303 See Other: after a form, the browser GETs `location`.
pub fn redirect(location: &str) -> http::Response<Vec<u8>> {
    let mut r = response(StatusCode::SEE_OTHER, String::new());
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Unix seconds as `2026-01-31 09:30 UTC`.
pub fn time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(escape("a \"b\" & c"), "a &quot;b&quot; &amp; c");
        assert_eq!(escape("Phone – DAVx5"), "Phone – DAVx5");
        assert!(page("<b>", "").contains("<title>&lt;b&gt; – davit</title>"));
        assert_eq!(csrf_field("a\"b"), "<input type=\"hidden\" name=\"csrf\" value=\"a&quot;b\">");
    }

    #[test]
    fn pages_are_never_cached_or_framed() {
        let r = response(StatusCode::OK, page("t", "x"));
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'")
        );
        assert_eq!(redirect("/web/account").status(), StatusCode::SEE_OTHER);
    }
}

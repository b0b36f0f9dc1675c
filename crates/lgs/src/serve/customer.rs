//! The dashboard's customer page (`GET /customer?id=N`): a search box and one
//! customer's profile, as `lgs customer` prints it.

use std::fmt::Write;

use super::pages::{head, nav_html};
use crate::analytics::customer::CustomerProfile;
use crate::charts::svg::{esc, grouped};

const STYLE: &str = r#"
form { margin: 0 0 14px; }
input { font-size:14px; padding:5px 8px; border:1px solid #ccc; border-radius:4px; }
button { font-size:14px; padding:5px 12px; border:1px solid #1f3b57; background:#1f3b57; color:white; border-radius:4px; }
pre.error { background:#fdecea; border:1px solid #f5c2c0; color:#8a1f11; padding:10px; white-space:pre-wrap; }
table.profile th { text-align:left; padding-right:18px; }
"#;

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| grouped(v, decimals))
}

/// The page: the search box, then the profile or the error (none before a search).
pub fn customer_page(
    asked: &str,
    profile: Option<&CustomerProfile>,
    error: Option<&str>,
) -> String {
    let mut out = head("Customer", STYLE);
    let _ = write!(
        out,
        r#"<header><h1>Customer</h1>{}</header><main><section><form method="get" action="/customer"><input id="customer-id" name="id" placeholder="customer id" value="{}"> <button type="submit">Show</button></form>"#,
        nav_html(),
        esc(asked)
    );
    if let Some(e) = error {
        let _ = write!(out, r#"<pre class="error">{}</pre>"#, esc(e));
    }
    if let Some(p) = profile {
        let mut rows: Vec<(String, String)> = vec![
            (
                "Country".into(),
                p.country.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "First purchase".into(),
                p.first_purchase.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "Last purchase".into(),
                p.last_purchase.clone().unwrap_or_else(|| "-".into()),
            ),
        ];
        if let Some(r) = &p.rfm {
            rows.push((
                "RFM segment".into(),
                format!(
                    "{} (R{} F{} M{}, as of {})",
                    r.segment, r.r, r.f, r.m, p.as_of
                ),
            ));
            rows.push((
                "Recency, frequency, monetary".into(),
                format!(
                    "{} days, {} invoices, {} GBP",
                    r.recency,
                    r.frequency,
                    grouped(r.monetary, 2)
                ),
            ));
        }
        if let Some(c) = &p.cluster {
            rows.push((
                "k-means cluster".into(),
                format!("{} ({})", c.cluster, c.name),
            ));
        }
        if let Some(c) = &p.clv {
            rows.push((
                "P(alive)".into(),
                c.p_alive
                    .map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0)),
            ));
            rows.push((
                "Expected purchase days, 90 days".into(),
                opt(c.expected_purchases_90d, 2),
            ));
            rows.push(("CLV, 12 months (GBP)".into(), opt(c.clv, 2)));
        }
        let _ = write!(
            out,
            r#"<h2>Customer {}</h2><table class="profile" id="profile">"#,
            p.customer_id
        );
        for (k, v) in rows {
            let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
        }
        out.push_str("</table>");
        if !p.top_products.is_empty() {
            out.push_str(r#"<h2>Top products</h2><table id="products"><thead><tr><th>stock code</th><th>description</th><th>quantity</th><th>amount (GBP)</th></tr></thead><tbody>"#);
            for t in &p.top_products {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&t.stock_code),
                    esc(t.description.as_deref().unwrap_or("")),
                    t.quantity,
                    grouped(t.amount, 2)
                );
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str("</section></main></body></html>");
    out
}

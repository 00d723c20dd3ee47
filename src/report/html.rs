//! `devices.html`: one self-contained page (no network): the period and team
//! in the header, the summary as figures and inline SVG bar charts, and the
//! devices as a table that sorts on a header click and filters as you type.
//! Every value is HTML-escaped; host names are user-controlled.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::domain::row::{Layout, Row};
use crate::domain::summary::Summary;
use crate::report::cells::row_cells;

/// What the page says about the run.
pub struct PageInfo<'a> {
    pub team: &'a str,
    pub period: &'a str,
    pub filter: &'a str,
    pub generated: &'a str,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Controls and bidi overrides as readable symbols, as on the console.
            c => crate::report::console::push_visible(&mut out, c),
        }
    }
    out
}

const STATUS_COLOURS: [(&str, &str); 3] = [
    ("enabled", "#3a8f3a"),
    ("disabled", "#c0392b"),
    ("no_status_update", "#8a8a8a"),
];

/// A horizontal bar chart, largest first.
fn bar_chart(title: &str, counts: &BTreeMap<String, usize>) -> String {
    let mut items: Vec<(&String, &usize)> = counts.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    items.truncate(12);
    let max = items.iter().map(|(_, n)| **n).max().unwrap_or(1).max(1);
    let height = 28 * items.len() as u32 + 10;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg role=\"img\" aria-label=\"{}\" width=\"460\" height=\"{height}\" viewBox=\"0 0 460 {height}\">",
        escape(title),
        escape(title)
    );
    for (i, (name, n)) in items.iter().enumerate() {
        let y = 5 + 28 * i as u32;
        let width = (**n as f64 / max as f64 * 230.0).max(2.0);
        let colour = STATUS_COLOURS
            .iter()
            .find(|(s, _)| s == name)
            .map_or("#4a78b5", |(_, c)| c);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" class=\"label\">{}</text><rect x=\"170\" y=\"{y}\" width=\"{width:.1}\" height=\"20\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{}\" class=\"count\">{n}</text>",
            y + 15,
            escape(&truncate(name, 26)),
            176.0 + width,
            y + 15
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

pub fn render(info: &PageInfo<'_>, rows: &[Row], summary: &Summary, layout: Layout) -> String {
    let columns = layout.columns();
    let mut html = String::with_capacity(4096 + rows.len() * 400);
    let filter = if info.filter.is_empty() {
        String::new()
    } else {
        format!("<p class=\"meta\">Filter: {}</p>", escape(info.filter))
    };
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Dropbox Backup status: {team}</title><style>{STYLE}</style></head><body>\
<header><h1>Dropbox Backup status</h1><p class=\"meta\"><strong>{team}</strong> · {period}</p>{filter}\
<p class=\"meta\">Generated {generated} by tbx {version}</p></header>",
        team = escape(info.team),
        period = escape(info.period),
        generated = escape(info.generated),
        version = env!("CARGO_PKG_VERSION"),
    );
    let without = summary.members_without_enabled_device.len();
    let _ = write!(
        html,
        "<section class=\"cards\"><div class=\"card\"><span class=\"big\">{}</span>devices</div>\
<div class=\"card\"><span class=\"big\">{:.1}%</span>with backup enabled</div>\
<div class=\"card\"><span class=\"big\">{without}</span>members with no device enabled</div>\
<div class=\"card\"><span class=\"big\">{}</span>devices inactive for {}+ days</div></section>",
        summary.devices,
        summary.enabled_percent,
        summary.stale_devices.len(),
        summary.stale_days,
    );
    let _ = write!(
        html,
        "<section class=\"charts\">{}{}{}</section>",
        bar_chart("Latest status", &summary.by_status),
        bar_chart("Platform", &summary.by_platform),
        bar_chart("Client type", &summary.by_client_type)
    );
    html.push_str("<section><input id=\"filter\" type=\"search\" placeholder=\"Filter devices (any column)\" aria-label=\"Filter devices\"> <span id=\"shown\"></span><table id=\"devices\"><thead><tr>");
    for column in &columns {
        let _ = write!(html, "<th scope=\"col\">{}</th>", escape(column.name()));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for value in row_cells(row, &columns) {
            let class = STATUS_COLOURS
                .iter()
                .find(|(s, _)| *s == value)
                .map_or(String::new(), |(s, _)| format!(" class=\"s-{s}\""));
            let _ = write!(html, "<td{class}>{}</td>", escape(&value));
        }
        html.push_str("</tr>");
    }
    let _ = writeln!(
        html,
        "</tbody></table></section><script>{SCRIPT}</script></body></html>"
    );
    html
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222}\
h1{margin:0 0 4px;font-size:22px}.meta{margin:2px 0;color:#555}\
.cards{display:flex;gap:12px;margin:16px 0;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px;color:#555}\
.big{display:block;font-size:26px;color:#222;font-weight:600}\
.charts{display:flex;gap:24px;flex-wrap:wrap}figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}\
svg .label,svg .count{font-size:13px;fill:#333}\
#filter{padding:6px;width:320px;margin:12px 0}\
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #548235;padding:4px 6px;text-align:left;vertical-align:top}\
th{background:#548235;color:#fff;cursor:pointer;position:sticky;top:0}th.asc::after{content:' ▲'}th.desc::after{content:' ▼'}\
td{white-space:pre-wrap;overflow-wrap:break-word;max-width:28em}.s-enabled{color:#2d7a2d;font-weight:600}.s-disabled{color:#b03a2e;font-weight:600}.s-no_status_update{color:#777}";

const SCRIPT: &str = "(function(){var t=document.getElementById('devices'),b=t.tBodies[0],f=document.getElementById('filter'),\
s=document.getElementById('shown');function count(){var n=0;for(var r of b.rows){if(r.style.display!=='none')n++}s.textContent=n+' of '+b.rows.length+' devices'}\
f.addEventListener('input',function(){var q=f.value.toLowerCase();for(var r of b.rows){r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none'}count()});\
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){th.addEventListener('click',function(){var asc=!th.classList.contains('asc');\
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h){h.classList.remove('asc','desc')});th.classList.add(asc?'asc':'desc');\
var rows=Array.prototype.slice.call(b.rows);rows.sort(function(x,y){var a=x.cells[i].textContent.toLowerCase(),c=y.cells[i].textContent.toLowerCase();return (a<c?-1:a>c?1:0)*(asc?1:-1)});\
rows.forEach(function(r){b.appendChild(r)})})});count()})();";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::row::RowSpec;
    use crate::domain::summary::summarize;

    #[test]
    fn values_are_escaped_and_the_page_needs_no_network() {
        let rows = vec![RowSpec {
            host: "<script>alert(1)</script>",
            status: Some("enabled"),
            ..Default::default()
        }
        .build()];
        let summary = summarize(&rows, 30, chrono::Utc::now());
        let info = PageInfo {
            team: "A & B",
            period: "p",
            filter: "",
            generated: "now",
        };
        let page = render(&info, &rows, &summary, Layout::default());
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("A &amp; B"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "self-contained"
        );
        assert_eq!(page.matches("<svg").count(), 3);
    }

    #[test]
    fn escape_characters_show_as_control_pictures() {
        assert_eq!(escape("\u{1b}[31mred\n<b>"), "␛[31mred␊&lt;b&gt;");
        assert_eq!(escape("a\u{202E}b\u{9b}"), "a[U+202E]b␛[");
        assert!(!escape("\u{1b}").contains("\\u{"));
    }
}

//! Lists that the server answers page by page: fetched until `--limit` (or `--all`), with a
//! note when more exist than were shown, so nothing is cut off unsaid.

use std::future::Future;

use crate::client::ApiError;
use crate::report::Printer;

/// One page as the server answered it: the items, the total that match, the next cursor.
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub next: Option<String>,
}

/// What was fetched: the items, the total that match, and where the rest starts.
pub type Listing<T> = Page<T>;

/// Fetches pages from `cursor` on until `want` items (`None`: all) or the end. Between pages a
/// progress note goes to stderr (`noun`: "runs", "events").
pub async fn fetch<T, F, Fut>(
    printer: &Printer,
    noun: &str,
    want: Option<u64>,
    mut cursor: Option<String>,
    mut page: F,
) -> Result<Listing<T>, ApiError>
where
    F: FnMut(u32, Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, ApiError>>,
{
    let mut items: Vec<T> = Vec::new();
    let mut total;
    loop {
        let left = want.map_or(u64::MAX, |w| w.saturating_sub(items.len() as u64));
        let answer = page(u32::try_from(left).unwrap_or(u32::MAX), cursor.clone()).await?;
        total = answer.total;
        let empty = answer.items.is_empty();
        items.extend(answer.items);
        // A server that hands back the cursor it was given would page forever.
        let stuck = answer.next.is_some() && answer.next == cursor;
        cursor = answer.next;
        let enough = want.is_some_and(|w| items.len() as u64 >= w);
        if cursor.is_none() || empty || stuck || enough {
            break;
        }
        printer.info(format!(
            "… {} of {} {noun}",
            thousands(items.len() as u64),
            thousands(total)
        ));
    }
    if let Some(want) = want {
        items.truncate(usize::try_from(want).unwrap_or(usize::MAX));
    }
    Ok(Page {
        items,
        total,
        next: cursor,
    })
}

/// After the list: when more exist than the `shown` ones, how many and how to get them.
/// `continue_flag` continues from `next` (`--cursor`, `--before`).
pub fn note_more(
    printer: &Printer,
    shown: usize,
    total: u64,
    next: Option<&str>,
    noun: &str,
    continue_flag: &str,
) {
    if let Some(next) = next {
        printer.info(format!(
            "Showing {} of {} {noun}; --limit N or --all for more (next page: {continue_flag} {next})",
            thousands(shown as u64),
            thousands(total),
        ));
    }
}

/// `23412` as `23,412`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verbosity;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(23_412), "23,412");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    /// A server of 7 items that pages by 3 at most.
    async fn server(limit: u32, cursor: Option<String>) -> Result<Page<u32>, ApiError> {
        let start: u32 = cursor.map_or(0, |c| c.parse().expect("cursor"));
        let end = (start + limit.min(3)).min(7);
        Ok(Page {
            items: (start..end).collect(),
            total: 7,
            next: (end < 7).then(|| end.to_string()),
        })
    }

    #[tokio::test]
    async fn pages_are_followed_until_the_limit_or_the_end() {
        let p = Printer::new(Verbosity::Quiet, false);
        let five = fetch(&p, "items", Some(5), None, server)
            .await
            .expect("fetched");
        assert_eq!(
            (five.items, five.total, five.next),
            (vec![0, 1, 2, 3, 4], 7, Some("5".into()))
        );
        let all = fetch(&p, "items", None, None, server)
            .await
            .expect("fetched");
        assert_eq!((all.items.len(), all.next), (7, None));
        let rest = fetch(&p, "items", Some(100), Some("5".into()), server)
            .await
            .expect("fetched");
        assert_eq!((rest.items, rest.next), (vec![5, 6], None));
        let stuck = fetch(&p, "items", None, None, |_, _| async {
            Ok(Page {
                items: vec![1],
                total: 9,
                next: Some("same".to_owned()),
            })
        })
        .await
        .expect("fetched");
        assert_eq!(stuck.items.len(), 2, "a repeated cursor ends the list");
    }
}

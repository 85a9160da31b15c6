//! Printing results: aligned tables for people, one JSON document on stdout for scripts.

use serde::Serialize;

/// Prints rows as an aligned table.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let print = |cells: &[String]| {
        let line: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    print(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        print(row);
    }
}

/// Prints one JSON document on stdout.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("values of the CLI serialize")
    );
}

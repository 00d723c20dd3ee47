//! `devices.json`: JSON lines, one object per row, keys in tbx's order.

use std::io::{self, Write};

use crate::domain::row::Row;

pub fn write_json_lines(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *out, row)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

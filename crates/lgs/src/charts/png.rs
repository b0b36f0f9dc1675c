//! Charts as PNG files for slides: the same SVG, rasterised by resvg at 2× with
//! the DejaVu Sans fonts embedded in the binary (`assets/fonts`), so the text looks
//! the same on every machine, with or without system fonts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{Options, Tree, fontdb};

use super::Chart;
use crate::error::{LgsError, Result};

const REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Pixels per SVG unit.
pub const SCALE: f32 = 2.0;

fn options() -> &'static Options<'static> {
    static OPTIONS: OnceLock<Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_font_data(REGULAR.to_vec());
        db.load_font_data(BOLD.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Options {
            font_family: "DejaVu Sans".into(),
            fontdb: Arc::new(db),
            ..Options::default()
        }
    })
}

/// Renders one SVG document to PNG bytes.
pub fn render(svg: &str) -> Result<Vec<u8>> {
    let failed = |message: String| LgsError::InvalidArgument {
        what: "chart",
        message,
    };
    let tree = Tree::from_str(svg, options()).map_err(|e| failed(e.to_string()))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * SCALE).ceil() as u32,
        (size.height() * SCALE).ceil() as u32,
    );
    let mut pixmap = Pixmap::new(w, h).ok_or_else(|| failed(format!("bad size {w}×{h}")))?;
    resvg::render(
        &tree,
        Transform::from_scale(SCALE, SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| failed(e.to_string()))
}

/// Writes every chart as `<dir>/<id>.png`, creating `dir`; returns the paths.
pub fn write_all<'a>(
    charts: impl IntoIterator<Item = &'a Chart>,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let write_err = |path: &Path, message: String| LgsError::Write {
        path: path.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e.to_string()))?;
    let mut written = Vec::new();
    for chart in charts {
        let path = dir.join(format!("{}.png", chart.id));
        let png = render(&chart.svg)?;
        std::fs::write(&path, png).map_err(|e| write_err(&path, e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}

//! PNG: every chart that has data, as `<stem>.png`, drawn with the bundled font.

use plotters::prelude::*;
use stormwatch_model::AnalysisReport;

use crate::charts::{Chart, HEIGHT, Plot, WIDTH};
use crate::{Artifact, ReportError};

pub fn render(report: &AnalysisReport) -> Result<Vec<Artifact>, ReportError> {
    drawn(&Chart::ALL, report)
}

/// Each of `charts` that has data in `r`, as `<stem>.png`, in order.
pub fn drawn<R: ?Sized, C: Plot<R>>(charts: &[C], r: &R) -> Result<Vec<Artifact>, ReportError> {
    let mut out = Vec::new();
    for &chart in charts {
        if !chart.has_data(r) {
            continue;
        }
        let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let area = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
            chart.draw(&area, r)?;
        }
        out.push(Artifact {
            name: format!("{}.png", chart.stem()),
            bytes: encode(&rgb, chart.stem())?,
        });
    }
    Ok(out)
}

fn encode(rgb: &[u8], stem: &str) -> Result<Vec<u8>, ReportError> {
    let fail = |e: ::png::EncodingError| ReportError::Chart {
        chart: stem.into(),
        message: e.to_string(),
    };
    let mut bytes = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut bytes, WIDTH, HEIGHT);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(bytes)
}

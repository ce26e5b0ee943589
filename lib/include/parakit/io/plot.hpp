// PNG plots through gnuplot (gnuplot-nox): the caller writes the plot commands and inline
// data blocks; this runs gnuplot and puts the PNG at its path atomically.
#pragma once

#include <string>
#include <string_view>

namespace parakit::io {

/// A gnuplot string literal holding `text` (single-quoted, quotes doubled).
std::string gnuplot_quote(std::string_view text);

/// Throws InputError naming `what` unless a gnuplot executable is on the PATH: call it
/// before long work whose results would otherwise end in a missing-plotter error.
void require_gnuplot(std::string_view what = "render_png");

/// Runs gnuplot on `commands` with a pngcairo terminal of width x height pixels whose output
/// appears at `png_path` only when gnuplot succeeded (a temporary file is renamed over it).
/// Throws InputError naming `what` when gnuplot is missing, fails (its first error line is
/// quoted) or the directory cannot be written.
void render_png(const std::string& png_path, std::string_view commands, int width, int height,
                std::string_view what = "render_png");

}  // namespace parakit::io

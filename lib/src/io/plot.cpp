#include "parakit/io/plot.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "parakit/core/error.hpp"

namespace parakit::io {
namespace {

/// A temporary file removed when this goes out of scope.
struct TempPath {
  std::string path;
  explicit TempPath(std::string p) : path(std::move(p)) {}
  ~TempPath() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};

std::string first_error_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t^") == std::string::npos) continue;
    found = line;
    if (line.find("rror") != std::string::npos) break;
  }
  return found;
}

}  // namespace

void require_gnuplot(std::string_view what) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (true) {
    const std::size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);  // empty: the current directory
    const std::string candidate = std::string(dir.empty() ? "." : dir) + "/gnuplot";
    if (::access(candidate.c_str(), X_OK) == 0) return;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  throw InputError(std::string(what) + ": gnuplot is not installed (apt-get install gnuplot-nox)");
}

std::string gnuplot_quote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

void render_png(const std::string& png_path, std::string_view commands, int width, int height,
                std::string_view what) {
  const std::string prefix = std::string(what) + " " + png_path + ": ";
  // The PNG is first written next to the target, so the final rename stays on one filesystem.
  const std::string partial = png_path + ".tmp." + std::to_string(::getpid()) + ".png";
  TempPath partial_file(partial);
  const auto tmp = std::filesystem::temp_directory_path();
  TempPath script(tmp / ("parakit-plot-" + std::to_string(::getpid()) + ".gp"));
  TempPath errors(tmp / ("parakit-plot-" + std::to_string(::getpid()) + ".err"));
  {
    std::ofstream out(script.path);
    out << "set terminal pngcairo size " << width << "," << height << " enhanced font 'sans,10'\n"
        << "set output " << gnuplot_quote(partial) << "\n"
        << commands << "\nunset output\n";
    if (!out) throw InputError(prefix + "cannot write the gnuplot script in " + tmp.string());
  }
  const std::string command =
      "gnuplot " + gnuplot_quote(script.path) + " 2>" + gnuplot_quote(errors.path);
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) {
    throw InputError(prefix + "could not run gnuplot");
  }
  if (WEXITSTATUS(status) == 127) {
    throw InputError(prefix + "gnuplot is not installed (apt-get install gnuplot-nox)");
  }
  if (WEXITSTATUS(status) != 0) {
    throw InputError(prefix + "gnuplot failed: " + first_error_line(errors.path));
  }
  std::error_code error;
  if (!std::filesystem::is_regular_file(partial, error)) {
    throw InputError(prefix + "gnuplot wrote no image (is the directory writable?)");
  }
  std::filesystem::rename(partial, png_path, error);
  if (error) throw InputError(prefix + "cannot rename the plot into place: " + error.message());
}

}  // namespace parakit::io

#include "library_terms.hpp"

#include <cctype>

namespace parakit::cli {
namespace {

struct Term {
  std::string_view library;
  std::string_view flag;
};

// Longer terms first where one is a prefix of another ("...::resume_failed", "...::resume").
constexpr Term kTerms[] = {
    {"RuntimeOptions::backend", "--backend"},
    {"RuntimeOptions::threads", "--threads"},
    {"SumOptions::n", "--n"},
    {"SumOptions::mode", "--mode"},
    {"PiOptions::samples", "--samples"},
    {"FarmOptions::chunk", "--chunk"},
    {"FarmOptions::schedule", "--schedule"},
    {"FarmJournalOptions::force_resume", "--force-resume"},
    {"FarmJournalOptions::resume", "--resume"},
    {"FarmJournalOptions::path", "--journal path"},
    {"scan_journal(force = true)", "--force-resume"},
    {"run_queue_demo(n)", "--tasks"},
    {"CostSpec", "--cost"},
    {"CostMode", "--cost-mode"},
    {"SumOptions::input", "--input"},
    {"ProgressOptions::interval", "--progress-interval"},
    {"KdeOptions::algo", "--algo"},
    {"KdeOptions::bandwidth", "--bandwidth"},
    {"KdeOptions::cv", "--cv"},
    {"KdeOptions::dim", "--dim"},
    {"KdeOptions::grid", "--grid"},
    {"KdeOptions::input", "--input"},
    {"KdeOptions::weights", "--weights"},
    {"TableSource::cols", "--cols"},
    {"TableSource::dataset", "--dataset"},
    {"KdeOptions::points", "--point"},
    {"KdeOptions::points_file", "--points"},
    {"KdeOptions::rng", "--rng"},
    {"KdeOptions::samples", "--samples"},
    {"KdeOptions::widths", "--widths"},
    {"kde::BandwidthRule", "--bandwidth"},
    {"ErrorBound::rtol", "--rtol"},
    {"KdeOptions::binned", "--approx binned"},
    {"KdeOptions::dim_scale", "--dim-scale"},
    {"KdeOptions::cv_optimize", "--optimize"},
    {"KdeOptions::data_covariance", "--kernel-cov data"},
    {"KdeOptions::bin_cells", "--approx binned:CELLS"},
    {"ErrorBound::atol", "--atol"},
    {"kde::CvMethod", "--cv"},
    {"kde::Kernel", "--kernel"},
    {"render_png", "--plot"},
};

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

/// Whether a name would go on after the term (a letter, digit, '_' or "::"), or came before it.
bool continues(std::string_view message, std::size_t at) {
  return at < message.size() && (word_char(message[at]) || message.substr(at, 2) == "::");
}
bool preceded(std::string_view message, std::size_t at) {
  return at > 0 && (word_char(message[at - 1]) || (at > 1 && message.substr(at - 2, 2) == "::"));
}

}  // namespace

std::string in_cli_terms(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  std::size_t i = 0;
  while (i < message.size()) {
    const Term* hit = nullptr;
    if (!preceded(message, i)) {
      for (const Term& term : kTerms) {
        if (message.substr(i, term.library.size()) == term.library &&
            (!word_char(term.library.back()) || !continues(message, i + term.library.size()))) {
          hit = &term;
          break;
        }
      }
    }
    if (hit != nullptr) {
      out += hit->flag;
      i += hit->library.size();
    } else {
      out += message[i++];
    }
  }
  return out;
}

}  // namespace parakit::cli

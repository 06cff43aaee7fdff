#include "notifier/sink_registry.h"

namespace notifier {

// Each factory lives with its sink. A new kind: its file, and one line here.
std::unique_ptr<SinkKind> NewLogKind();      // sink.cc
std::unique_ptr<SinkKind> NewSlackKind();    // slack_sink.cc
std::unique_ptr<SinkKind> NewWebhookKind();  // webhook_sink.cc
std::unique_ptr<SinkKind> NewEmailKind();    // email_sink.cc

std::vector<std::unique_ptr<SinkKind>> NewSinkKinds() {
  std::vector<std::unique_ptr<SinkKind>> kinds;
  for (auto* make : {&NewLogKind, &NewSlackKind, &NewWebhookKind, &NewEmailKind}) {
    kinds.push_back(make());
  }
  return kinds;
}

}  // namespace notifier

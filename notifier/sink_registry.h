// The sink kinds the notifier knows, in the order their queues are made.
#pragma once

#include <memory>
#include <vector>

#include "notifier/sink_kind.h"

namespace notifier {

// A fresh, unconfigured descriptor of every kind (defaults only).
std::vector<std::unique_ptr<SinkKind>> NewSinkKinds();

}  // namespace notifier

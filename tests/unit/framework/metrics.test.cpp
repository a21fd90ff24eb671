// The metrics registry's bounds: a family fed labels from input (a message
// type, a peer's name) holds at most its limit of series plus one overflow
// series, whatever the input; a profiled actor counts message types past
// its own limit as `type="other"`.

#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include "p21/metrics.hpp"
#include "p21/profiling.hpp"
#include "support/wait.hpp"

using namespace p21;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;

double counter_value(const metric_set& m, const std::string& name, const metric_labels& labels) {
  for (auto& c : m.counters)
    if (c.name == name && c.labels == labels)
      return c.value;
  return -1;
}

size_t series_of_component(const metric_set& m, const metric_def& def,
                           const std::string& component) {
  size_t n = 0;
  for (auto& c : m.counters)
    if (def.names(c.name) && c.labels.at("component") == component)
      ++n;
  return n;
}

} // namespace

TEST_CASE("a metric family fed 100 000 distinct label values holds at most its limit plus one "
          "series, and the overflow series counts the rest") {
  metrics_registry registry;
  constexpr size_t distinct = 100'000;
  for (size_t i = 0; i < distinct; ++i)
    registry.make_counter("requests", "Requests.", {{"path", "/p" + std::to_string(i)}}).inc();
  auto limit = metrics_registry::default_series_limit;
  CHECK(registry.series_count("requests") == limit + 1);
  auto m = registry.collect();
  CHECK(m.counters.size() == limit + 1);
  CHECK(counter_value(m, "requests", {{"path", "/p0"}}) == 1);
  CHECK(counter_value(m, "requests", {{"path", "/p" + std::to_string(limit - 1)}}) == 1);
  CHECK(counter_value(m, "requests", {{"path", "other"}}) == double(distinct - limit));
  // A label set registered before the family filled up keeps its own series.
  registry.make_counter("requests", "Requests.", {{"path", "/p7"}}).inc();
  CHECK(counter_value(registry.collect(), "requests", {{"path", "/p7"}}) == 2);
  // Other families are not affected.
  registry.make_counter("errors", "Errors.", {{"path", "/p99999"}}).inc();
  CHECK(registry.series_count("errors") == 1);
}

TEST_CASE("past its limit a declared family folds a label set into its overflow label and keeps "
          "the others, or into a series whose every label is other") {
  constexpr metric_def handled{"handled", "Handled.", metric_kind::counter, "", 4, "type"};
  metrics_registry registry;
  for (auto t : {"get", "put", "other"})
    registry.make_counter(handled, {{"component", "a"}, {"type", t}});
  registry.make_counter(handled, {{"component", "b"}, {"type", "get"}});
  REQUIRE(registry.series_count("handled") == 4);
  registry.make_counter(handled, {{"component", "a"}, {"type", "flood1"}}).inc();
  registry.make_counter(handled, {{"component", "a"}, {"type", "flood2"}}).inc();
  registry.make_counter(handled, {{"component", "c"}, {"type", "x"}}).inc(5);
  auto m = registry.collect();
  CHECK(registry.series_count("handled") == 5);
  CHECK(counter_value(m, "handled", {{"component", "a"}, {"type", "other"}}) == 2);
  CHECK(counter_value(m, "handled", {{"component", "other"}, {"type", "other"}}) == 5);
  CHECK(counter_value(m, "handled", {{"component", "a"}, {"type", "flood1"}}) == -1);
}

TEST_CASE("a profiled actor sent more message types than max_types counts the rest as "
          "type other, without growing the registry") {
  metrics_registry registry;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto profile = std::make_shared<actor_profile>(registry, "flood");
  auto a = spawn_profiled(sys, profile, [](caf::event_based_actor* self) -> caf::behavior {
    // Whatever a peer sends that the actor does not know is dropped.
    self->set_default_handler(caf::drop);
    return {[](ping_atom) { return 1; }};
  });
  constexpr size_t names = 1000;
  {
    caf::scoped_actor self{sys};
    self->request(a, caf::infinite, ping_atom::value).receive([](int) {}, [](caf::error&) {});
    for (size_t i = 0; i < names; ++i)
      self->send(a, caf::atom_from_string("m" + std::to_string(i)));
    // In order after the flood: its reply means the flood was handled.
    self->request(a, caf::infinite, ping_atom::value).receive([](int) {}, [](caf::error&) {});
  }
  auto handled = [&] {
    for (auto& h : registry.collect().histograms)
      if (profiling_metrics::handler_seconds.names(h.name))
        return h.count;
    return uint64_t{0};
  };
  REQUIRE(p21::test::eventually([&] { return handled() == names + 2; }));
  auto m = registry.collect();
  CHECK(series_of_component(m, profiling_metrics::messages, "flood") ==
        actor_profile::max_types + 1);
  auto name = std::string{profiling_metrics::messages.name};
  CHECK(counter_value(m, name, {{"component", "flood"}, {"type", "ping"}}) == 2);
  CHECK(counter_value(m, name, {{"component", "flood"}, {"type", "m0"}}) == 1);
  // ping and 127 flood types have their own series; the other 873 fold.
  CHECK(counter_value(m, name, {{"component", "flood"}, {"type", "other"}}) ==
        double(names - (actor_profile::max_types - 1)));
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// SPDX-License-Identifier: MIT
#include "metrics/metrics.h"

#include <cstdio>

namespace livecomments::server::metrics {

namespace {

const std::vector<double> kLatencyBounds { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5 };

std::string number(double value)
{
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.9g", value);
    return buffer;
}

void line(std::string& out, const std::string& name, const std::string& labels, double value)
{
    out += name;
    if (!labels.empty())
        out += "{" + labels + "}";
    out += " " + number(value) + "\n";
}

void help(std::string& out, const std::string& name, const char* type, const char* text)
{
    out += "# HELP " + name + " " + text + "\n# TYPE " + name + " " + type + "\n";
}

} // namespace

Histogram::Histogram(std::vector<double> bounds)
    : m_bounds(std::move(bounds))
    , m_counts(m_bounds.size() + 1, 0)
{ }

void Histogram::observe(double value)
{
    std::size_t i = 0;
    while (i < m_bounds.size() && value > m_bounds[i])
        ++i;
    std::lock_guard lock(m_mutex);
    ++m_counts[i];
    m_sum += value;
    ++m_count;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const
{
    std::lock_guard lock(m_mutex);
    const std::string prefix = labels.empty() ? "" : labels + ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < m_bounds.size(); ++i) {
        cumulative += m_counts[i];
        line(out, name + "_bucket", prefix + "le=\"" + number(m_bounds[i]) + "\"",
            double(cumulative));
    }
    cumulative += m_counts.back();
    line(out, name + "_bucket", prefix + "le=\"+Inf\"", double(cumulative));
    line(out, name + "_sum", labels, m_sum);
    line(out, name + "_count", labels, double(m_count));
}

Metrics::Metrics()
    : m_commitLatency(kLatencyBounds)
{ }

void Metrics::commentRejected(const std::string& reason)
{
    std::lock_guard lock(m_mutex);
    ++m_rejected[reason];
}

void Metrics::commitObserved(double seconds, std::size_t ops)
{
    m_commitBatches.fetch_add(1, std::memory_order_relaxed);
    m_commitOps.fetch_add(ops, std::memory_order_relaxed);
    m_commitLatency.observe(seconds);
}

void Metrics::requestObserved(const std::string& route, int status, double seconds)
{
    std::lock_guard lock(m_mutex);
    ++m_requests[{ route, status }];
    auto it = m_requestLatency.find(route);
    if (it == m_requestLatency.end())
        it = m_requestLatency
                 .emplace(std::piecewise_construct, std::forward_as_tuple(route),
                     std::forward_as_tuple(kLatencyBounds))
                 .first;
    it->second.observe(seconds);
}

void Metrics::streamResumed(bool complete)
{
    (complete ? m_resumesComplete : m_resumesReset).fetch_add(1, std::memory_order_relaxed);
}

std::string renderFrontEnd(const FrontEndGauges& g)
{
    std::string out;
    help(out, "livecomments_http_connections_open", "gauge",
        "HTTP connections held by the front end (SSE streams are counted in open_streams).");
    line(out, "livecomments_http_connections_open", "", double(g.open));
    help(out, "livecomments_http_connections_accepted_total", "counter",
        "Connections accepted by the front end.");
    line(out, "livecomments_http_connections_accepted_total", "", double(g.accepted));
    help(out, "livecomments_http_requests_parsed_total", "counter",
        "Complete requests handed to a worker thread.");
    line(out, "livecomments_http_requests_parsed_total", "", double(g.requests));
    help(out, "livecomments_http_rejected_total", "counter",
        "Connections or requests the front end refused or closed, by reason.");
    const std::pair<const char*, std::uint64_t> reasons[] = { { "node_limit", g.rejectedNode },
        { "ip_limit", g.rejectedIp }, { "rate_limited", g.rateLimited }, { "timeout", g.timedOut },
        { "bad_request", g.badRequests } };
    for (const auto& [reason, count] : reasons)
        line(out, "livecomments_http_rejected_total", std::string("reason=\"") + reason + "\"",
            double(count));
    return out;
}

void Metrics::renderCluster(std::string& out, const ExternalGauges& g)
{
    const struct {
        const char* name;
        const char* type;
        const char* text;
        std::uint64_t value;
    } series[] = {
        { "livecomments_bus_up", "gauge", "1 while both Redis bus connections are up.",
            g.busUp ? 1u : 0u },
        { "livecomments_bus_reconnects_total", "counter", "Redis bus reconnects.",
            g.busReconnects },
        { "livecomments_bus_messages_in_total", "counter", "Events received from other nodes.",
            g.busMessagesIn },
        { "livecomments_bus_messages_out_total", "counter", "Events published to other nodes.",
            g.busMessagesOut },
        { "livecomments_bus_publish_failures_total", "counter",
            "Events that could not be published (other nodes fill them from the store).",
            g.busPublishFailures },
        { "livecomments_gap_fills_total", "counter",
            "Comments fetched from the store after a bus gap and delivered.", g.gapFills },
        { "livecomments_chain_gap_fills_total", "counter",
            "Store reads run because a comment's predecessor had not arrived within "
            "--order-hold-ms.",
            g.chainGapFills },
        { "livecomments_late_comments_total", "counter",
            "Comments delivered after a larger id of their video (outside the chain: "
            "cross-region copies).",
            g.lateComments },
        { "livecomments_duplicate_events_total", "counter",
            "Comment events dropped as already delivered.", g.duplicatesDropped },
        { "livecomments_lease_renew_failures_total", "counter", "Failed node-id lease renewals.",
            g.leaseRenewFailures },
        { "livecomments_viewer_count_write_failures_total", "counter",
            "Viewer-count writes that could not reach Redis.", g.countWriteFailures },
    };
    for (const auto& s : series) {
        help(out, s.name, s.type, s.text);
        line(out, s.name, "", double(s.value));
    }
}

std::string Metrics::render(const ExternalGauges& g) const
{
    std::string out;
    out.reserve(8192);
    help(out, "livecomments_open_streams", "gauge", "SSE streams currently open on this node.");
    line(out, "livecomments_open_streams", "", double(g.openStreams));
    help(out, "livecomments_streams_opened_total", "counter", "SSE streams accepted.");
    line(out, "livecomments_streams_opened_total", "", double(m_streamsOpened.load()));
    help(out, "livecomments_stream_resumes_total", "counter",
        "Streams opened with Last-Event-ID, by outcome.");
    line(out, "livecomments_stream_resumes_total", "outcome=\"replayed\"",
        double(m_resumesComplete.load()));
    line(out, "livecomments_stream_resumes_total", "outcome=\"reset\"",
        double(m_resumesReset.load()));
    help(out, "livecomments_comments_accepted_total", "counter", "Comments committed.");
    line(out, "livecomments_comments_accepted_total", "", double(m_commentsAccepted.load()));
    help(out, "livecomments_comments_rejected_total", "counter", "Comments refused, by reason.");
    {
        std::lock_guard lock(m_mutex);
        for (const auto& [reason, count] : m_rejected)
            line(out, "livecomments_comments_rejected_total", "reason=\"" + reason + "\"",
                double(count));
    }
    help(out, "livecomments_deliveries_total", "counter",
        "Frames queued to subscribers (one per subscriber per frame).");
    line(out, "livecomments_deliveries_total", "", double(g.deliveries));
    help(out, "livecomments_frames_published_total", "counter", "Frames published to the engine.");
    line(out, "livecomments_frames_published_total", "", double(g.framesPublished));
    help(out, "livecomments_slow_disconnects_total", "counter",
        "Subscribers closed because their queue passed the cap.");
    line(out, "livecomments_slow_disconnects_total", "", double(g.slowDisconnects));
    help(out, "livecomments_client_disconnects_total", "counter", "Streams closed by the peer.");
    line(out, "livecomments_client_disconnects_total", "", double(g.clientDisconnects));
    help(out, "livecomments_heartbeats_total", "counter", "Heartbeat comment lines written.");
    line(out, "livecomments_heartbeats_total", "", double(g.heartbeats));
    help(out, "livecomments_stream_bytes_total", "counter", "Bytes written to SSE streams.");
    line(out, "livecomments_stream_bytes_total", "", double(g.bytesWritten));
    help(out, "livecomments_node_id", "gauge", "The snowflake node id this node mints ids with.");
    line(out, "livecomments_node_id", "", double(g.nodeId));
    if (g.clustered)
        renderCluster(out, g);
    help(out, "livecomments_commit_batches_total", "counter", "Group commits.");
    line(out, "livecomments_commit_batches_total", "", double(m_commitBatches.load()));
    help(out, "livecomments_commit_ops_total", "counter", "Write operations committed.");
    line(out, "livecomments_commit_ops_total", "", double(m_commitOps.load()));
    help(out, "livecomments_commit_latency_seconds", "histogram",
        "Time from BEGIN to COMMIT of one group commit.");
    m_commitLatency.render(out, "livecomments_commit_latency_seconds", "");
    std::lock_guard lock(m_mutex);
    help(out, "livecomments_http_requests_total", "counter", "HTTP requests by route and status.");
    for (const auto& [key, count] : m_requests)
        line(out, "livecomments_http_requests_total",
            "route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"",
            double(count));
    help(out, "livecomments_http_request_duration_seconds", "histogram",
        "HTTP request latency by route.");
    for (const auto& [route, histogram] : m_requestLatency)
        histogram.render(
            out, "livecomments_http_request_duration_seconds", "route=\"" + route + "\"");
    return out;
}

} // namespace livecomments::server::metrics

// SPDX-License-Identifier: MIT
#include "service/region_relay.h"

#include "model/clock.h"
#include "model/errors.h"

#include <Poco/DigestEngine.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/SSLException.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <sstream>

namespace livecomments::server {

namespace {

/// Rows per batch at most (and --max-body bytes): one ingest request, one group commit there.
constexpr std::size_t kBatchRows = 256;
/// Empty queue: look again this often even without a wake (other nodes of the region write to
/// the same PostgreSQL queue and cannot wake this node).
constexpr int kIdlePollMs = 500;
constexpr int kBackoffMinMs = 200;
constexpr int kBackoffMaxMs = 5000;
/// Another node holds the lease: try to take it over this often.
constexpr int kLeaseRetryMs = 2000;
constexpr int kHttpTimeoutSeconds = 10;
/// A kept-alive connection idle longer than this is closed rather than reused: below the 30 s
/// default --keepalive-timeout-ms of a peer node and nginx's 75 s, so the peer rarely closes it
/// first (when it does, post() retries once on a new connection).
constexpr int kKeepAliveIdleSeconds = 15;

Poco::Logger& relayLog()
{
    static Poco::Logger& logger = Poco::Logger::get("livecomments.region");
    return logger;
}

/// The client context of https:// peers: the chain must verify against `caFile` (or the system's
/// trust store when empty) and, being VERIFY_STRICT, the certificate must name the URL's host even
/// for loopback addresses (Poco skips the host check for them in the relaxed mode).
Poco::Net::Context::Ptr relayTlsContext(const std::string& caFile)
{
    Poco::Net::initializeSSL();
    Poco::Net::Context::Params params;
    params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    params.verificationDepth = 9;
    params.caLocation = caFile;
    params.loadDefaultCAs = caFile.empty();
    params.cipherList = "HIGH:!aNULL:!eNULL:!MD5";
    Poco::Net::Context::Ptr context
        = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    return context;
}

ApiError relayUnauthorized(const std::string& why)
{
    return ApiError(ErrorKind::Unauthorized, "region_unauthorized", why);
}

} // namespace

std::string regionSignature(
    const std::string& secret, const std::string& timestamp, const std::string& body)
{
    // OpenSSL's HMAC: Poco 1.11's SHA2Engine lacks the BLOCK_SIZE that HMACEngine needs
    // (docs/dependencies.md).
    const std::string message = timestamp + "\n" + body;
    Poco::DigestEngine::Digest digest(EVP_MAX_MD_SIZE);
    unsigned int size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
        reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(),
        &size);
    digest.resize(size);
    return Poco::DigestEngine::digestToHex(digest);
}

RegionRelay::RegionRelay(const Settings& settings, store::CommentStore& store)
    : m_store(store)
    , m_region(settings.region)
    , m_secret(settings.regionSecret)
    , m_maxBatchBytes(settings.maxBodyBytes > 1024 ? settings.maxBodyBytes - 512 : 512)
{
    for (const auto& p : settings.peerRegions) {
        auto peer = std::make_unique<Peer>();
        peer->name = p.name;
        peer->url = p.url;
        peer->batchLimit = kBatchRows;
        if (!m_tls && Poco::URI(p.url).getScheme() == "https")
            m_tls = relayTlsContext(settings.regionCaFile);
        m_peers.push_back(std::move(peer));
    }
}

RegionRelay::~RegionRelay()
{
    stop();
}

void RegionRelay::start()
{
    std::lock_guard lock(m_mutex);
    m_stopping = false;
    m_started = true;
    for (auto& peer : m_peers)
        peer->thread = std::thread([this, p = peer.get()] { run(*p); });
}

void RegionRelay::stop()
{
    {
        std::lock_guard lock(m_mutex);
        if (!m_started)
            return;
        m_started = false;
        m_stopping = true;
    }
    m_wake.notify_all();
    for (auto& peer : m_peers) {
        if (peer->thread.joinable())
            peer->thread.join();
        peer->session.reset(); // the thread is gone: close its connection
    }
}

void RegionRelay::wake()
{
    {
        std::lock_guard lock(m_mutex);
        ++m_generation;
    }
    m_wake.notify_all();
}

bool RegionRelay::pause(std::uint64_t seenGeneration, int ms, bool wakeable)
{
    std::unique_lock lock(m_mutex);
    m_wake.wait_for(lock, std::chrono::milliseconds(ms),
        [&] { return m_stopping || (wakeable && m_generation != seenGeneration); });
    return !m_stopping;
}

void RegionRelay::run(Peer& peer)
{
    std::unique_ptr<store::RelayLease> lease;
    int backoffMs = 0;
    for (;;) {
        std::uint64_t generation = 0;
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping)
                return;
            generation = m_generation;
        }
        try {
            if (lease && !lease->held())
                lease.reset();
            if (!lease)
                lease = m_store.tryRelayLease(peer.name);
        } catch (const std::exception& e) {
            relayLog().warning("relay to %s: lease: %s", peer.name, std::string(e.what()));
        }
        if (!lease) {
            if (!pause(generation, kLeaseRetryMs, false))
                return;
            continue;
        }
        std::vector<store::RelayRow> rows;
        try {
            rows = m_store.relayPending(peer.name, peer.batchLimit, m_maxBatchBytes);
        } catch (const std::exception& e) {
            relayLog().warning(
                "relay to %s: reading the queue: %s", peer.name, std::string(e.what()));
        }
        if (rows.empty()) {
            if (!pause(generation, kIdlePollMs, true))
                return;
            continue;
        }
        std::vector<std::string> payloads;
        std::vector<std::int64_t> seqs;
        for (auto& row : rows) {
            payloads.push_back(std::move(row.payload));
            seqs.push_back(row.seq);
        }
        int status = 0;
        bool delivered = post(peer, store::regionBatchJson(m_region, payloads), status);
        if (delivered) {
            try {
                m_store.relayDelivered(peer.name, seqs);
            } catch (const std::exception& e) {
                // Sent again later: the peer stores by id, so a repeat is harmless.
                relayLog().warning(
                    "relay to %s: deleting delivered rows: %s", peer.name, std::string(e.what()));
                delivered = false;
            }
        }
        if (delivered) {
            peer.batches.fetch_add(1, std::memory_order_relaxed);
            peer.events.fetch_add(seqs.size(), std::memory_order_relaxed);
            peer.batchLimit = std::min(kBatchRows, peer.batchLimit * 2);
            backoffMs = 0;
            continue;
        }
        peer.errors.fetch_add(1, std::memory_order_relaxed);
        if (status == 413)
            peer.batchLimit = std::max<std::size_t>(1, seqs.size() / 2);
        backoffMs = std::clamp(backoffMs * 2, kBackoffMinMs, kBackoffMaxMs);
        if (!pause(generation, backoffMs, false)) // a wake does not cut a back-off short
            return;
    }
}

bool RegionRelay::post(Peer& peer, const std::string& body, int& status)
{
    if (peer.session
        && std::chrono::steady_clock::now() - peer.lastUsed
            > std::chrono::seconds(kKeepAliveIdleSeconds))
        peer.session.reset(); // idle long enough for the peer to have closed it
    for (int attempt = 0;; ++attempt) {
        status = 0;
        const bool reused = peer.session && peer.sessionUsed;
        try {
            // false: a non-2xx answer, logged, its connection closed.
            return exchange(peer, body, status);
        } catch (const Poco::Exception& e) {
            peer.session.reset();
            // A kept-alive connection the peer closed while idle (its keep-alive timeout, a
            // restart) fails on first use: that is no outage, so once more on a new connection
            // (the peer stores by id: a batch it did receive is not applied twice).
            if (reused && attempt == 0)
                continue;
            // Also CertificateValidationException (host name mismatch): say it is TLS.
            const bool tls = dynamic_cast<const Poco::Net::SSLException*>(&e) != nullptr;
            relayLog().warning("relay to %s (%s): %s%s", peer.name, peer.url,
                std::string(tls ? "TLS: " : ""), e.displayText());
        } catch (const std::exception& e) {
            peer.session.reset();
            relayLog().warning("relay to %s (%s): %s", peer.name, peer.url, std::string(e.what()));
        }
        return false;
    }
}

bool RegionRelay::exchange(Peer& peer, const std::string& body, int& status)
{
    const Poco::URI uri(peer.url + kRegionIngestPath);
    if (!peer.session) {
        // https:// peers over TLS only: a certificate that does not verify throws in
        // sendRequest() and the batch is retried later, never sent in clear.
        if (uri.getScheme() == "https")
            peer.session = std::make_unique<Poco::Net::HTTPSClientSession>(
                uri.getHost(), uri.getPort(), m_tls);
        else
            peer.session
                = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
        peer.session->setTimeout(Poco::Timespan(kHttpTimeoutSeconds, 0));
        peer.session->setKeepAlive(true);
        // Idle expiry is ours (above): Poco must not reconnect behind our back.
        peer.session->setKeepAliveTimeout(Poco::Timespan(3600, 0));
        peer.sessionUsed = false;
        peer.connections.fetch_add(1, std::memory_order_relaxed);
    }
    Poco::Net::HTTPClientSession& session = *peer.session;
    Poco::Net::HTTPRequest request(
        Poco::Net::HTTPRequest::HTTP_POST, uri.getPathEtc(), Poco::Net::HTTPMessage::HTTP_1_1);
    const std::string timestamp = std::to_string(wallClockMs() / 1000);
    request.setKeepAlive(true);
    request.setContentType("application/json");
    request.setContentLength(static_cast<std::streamsize>(body.size()));
    request.set("X-LC-Region", m_region);
    request.set("X-LC-Timestamp", timestamp);
    request.set("X-LC-Signature", regionSignature(m_secret, timestamp, body));
    peer.sessionUsed = true;
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    // Read to the end, so the next request can follow on the same connection.
    std::ostringstream answer;
    Poco::StreamCopier::copyStream(in, answer);
    peer.lastUsed = std::chrono::steady_clock::now();
    status = static_cast<int>(response.getStatus());
    const bool ok = status >= 200 && status < 300;
    if (!ok) {
        relayLog().warning(
            "relay to %s: HTTP %d: %s", peer.name, status, answer.str().substr(0, 300));
    }
    if (!ok || !response.getKeepAlive())
        peer.session.reset();
    return ok;
}

void RegionRelay::verify(const std::string& region, const std::string& timestamp,
    const std::string& signature, const std::string& body) const
{
    if (region.empty() || timestamp.empty() || signature.empty())
        throw relayUnauthorized("X-LC-Region, X-LC-Timestamp and X-LC-Signature are required");
    const bool known = std::any_of(
        m_peers.begin(), m_peers.end(), [&](const auto& p) { return p->name == region; });
    if (!known)
        throw relayUnauthorized("not a peer region of this one");
    if (timestamp.size() > 12 || timestamp.find_first_not_of("0123456789") != std::string::npos)
        throw relayUnauthorized("X-LC-Timestamp must be Unix seconds");
    const std::int64_t skew = std::stoll(timestamp) - wallClockMs() / 1000;
    if (skew > kRegionMaxSkewSeconds || skew < -kRegionMaxSkewSeconds)
        throw relayUnauthorized("X-LC-Timestamp is more than 5 minutes off");
    const std::string expected = regionSignature(m_secret, timestamp, body);
    if (signature.size() != expected.size()
        || CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0)
        throw relayUnauthorized("bad X-LC-Signature");
}

void RegionRelay::noteIngested(std::size_t applied, std::size_t duplicates)
{
    m_ingestApplied.fetch_add(applied, std::memory_order_relaxed);
    m_ingestDuplicates.fetch_add(duplicates, std::memory_order_relaxed);
}

void RegionRelay::noteRejected()
{
    m_ingestRejected.fetch_add(1, std::memory_order_relaxed);
}

std::string RegionRelay::renderMetrics() const
{
    std::ostringstream out;
    const std::int64_t now = wallClockMs();
    std::vector<store::RelayBacklog> backlogs;
    for (const auto& peer : m_peers) {
        try {
            backlogs.push_back(m_store.relayBacklog(peer->name));
        } catch (const std::exception&) {
            backlogs.push_back({}); // the store is away: /metrics still answers
        }
    }
    auto series = [&](const char* name, const char* type, const char* help, auto value) {
        out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
        for (std::size_t i = 0; i < m_peers.size(); ++i)
            out << name << "{peer=\"" << m_peers[i]->name << "\"} " << value(i) << '\n';
    };
    series("livecomments_region_relay_queue_depth", "gauge",
        "Relay rows not yet delivered to the peer region.",
        [&](std::size_t i) { return static_cast<double>(backlogs[i].depth); });
    series("livecomments_region_relay_lag_seconds", "gauge",
        "Age of the oldest undelivered relay row (0 when the queue is empty).", [&](std::size_t i) {
            return backlogs[i].depth == 0
                ? 0.0
                : std::max<double>(0, (now - backlogs[i].oldestMs) / 1000.0);
        });
    series("livecomments_region_relay_batches_total", "counter",
        "Batches the peer region acknowledged.",
        [&](std::size_t i) { return static_cast<double>(m_peers[i]->batches.load()); });
    series("livecomments_region_relay_events_total", "counter",
        "Events the peer region acknowledged.",
        [&](std::size_t i) { return static_cast<double>(m_peers[i]->events.load()); });
    series("livecomments_region_relay_connections_total", "counter",
        "Connections opened (or tried) to the peer region: TCP, and TLS for https://.",
        [&](std::size_t i) { return static_cast<double>(m_peers[i]->connections.load()); });
    series("livecomments_region_relay_errors_total", "counter",
        "Failed relay attempts (unreachable, timeout, TLS verification, non-2xx answer).",
        [&](std::size_t i) { return static_cast<double>(m_peers[i]->errors.load()); });
    out << "# HELP livecomments_region_ingest_events_total Events received from peer regions.\n"
           "# TYPE livecomments_region_ingest_events_total counter\n"
           "livecomments_region_ingest_events_total{result=\"applied\"} "
        << m_ingestApplied.load()
        << "\nlivecomments_region_ingest_events_total{result=\"duplicate\"} "
        << m_ingestDuplicates.load()
        << "\n# HELP livecomments_region_ingest_rejected_total Ingest requests refused (401, "
           "400, 409).\n# TYPE livecomments_region_ingest_rejected_total counter\n"
           "livecomments_region_ingest_rejected_total "
        << m_ingestRejected.load() << '\n';
    return out.str();
}

} // namespace livecomments::server

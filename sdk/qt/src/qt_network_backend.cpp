// SPDX-License-Identifier: MIT
#include "livecomments/qt/qt_network_backend.h"

#include <QHash>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QSslConfiguration>
#include <QThread>
#include <QTimer>

namespace livecomments::qt {

namespace {

bool isHttpStatusError(QNetworkReply::NetworkError e)
{
    // Qt turns 4xx/5xx responses into these codes; for the core they are responses, not failures.
    return (e >= QNetworkReply::ContentAccessDenied && e <= QNetworkReply::UnknownContentError)
        || (e >= QNetworkReply::ProtocolInvalidOperationError
            && e <= QNetworkReply::UnknownServerError);
}

Error errorFrom(QNetworkReply::NetworkError e, const QString& text)
{
    const std::string message = text.toStdString();
    switch (e) {
    case QNetworkReply::TimeoutError:
    case QNetworkReply::OperationCanceledError: // the transfer timeout (we never abort otherwise)
        return Error { ErrorCode::Timeout, message, 0, -1 };
    case QNetworkReply::SslHandshakeFailedError:
        return Error { ErrorCode::Tls, "TLS: " + message, 0, -1 };
    case QNetworkReply::ProtocolUnknownError:
    case QNetworkReply::ProtocolFailure:
        return Error { ErrorCode::Protocol, message, 0, -1 };
    default:
        // Refused, reset, host not found, TLS, proxy: the network, worth a retry.
        return Error { ErrorCode::Network, message, 0, -1 };
    }
}

} // namespace

/// TlsOptions as Qt trust settings: the app's CAs replace the default list, as CAINFO and
/// CAPATH do for libcurl. An unreadable file or PEM yields no CA, so the handshake fails.
QSslConfiguration sslConfiguration(const TlsOptions& tls)
{
    QSslConfiguration ssl = QSslConfiguration::defaultConfiguration();
    if (!tls.caFile.empty() || !tls.caPem.empty()) {
        QList<QSslCertificate> cas;
        if (!tls.caFile.empty())
            cas = QSslCertificate::fromPath(QString::fromStdString(tls.caFile), QSsl::Pem,
                QSslCertificate::PatternSyntax::FixedString);
        if (!tls.caPem.empty())
            cas += QSslCertificate::fromData(QByteArray::fromStdString(tls.caPem), QSsl::Pem);
        ssl.setCaCertificates(cas);
    }
    if (!tls.verifyPeer)
        ssl.setPeerVerifyMode(QSslSocket::VerifyNone);
    return ssl;
}

/// Owns the QNetworkAccessManager and the replies; lives on the backend's thread.
class QtNetworkBackend::Worker : public QObject {
public:
    ~Worker() override
    {
        for (QNetworkReply* reply : std::as_const(m_replies)) {
            reply->disconnect(this);
            reply->abort();
            delete reply;
        }
    }

    void start(RequestId id, const HttpBackendRequest& r, std::shared_ptr<HttpBackendSink> sink)
    {
        QNetworkRequest req(QUrl(QString::fromStdString(r.url)));
        for (const auto& [name, value] : r.headers)
            req.setRawHeader(QByteArray::fromStdString(name), QByteArray::fromStdString(value));
        if (!r.userAgent.empty())
            req.setHeader(QNetworkRequest::UserAgentHeader, QString::fromStdString(r.userAgent));
        req.setAttribute(
            QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
        req.setAttribute(
            QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
        // A stream is one long response: HTTP/2 multiplexing would tie it to other requests, and
        // a compressed stream would hold events back in the decompressor.
        req.setAttribute(QNetworkRequest::Http2AllowedAttribute, !r.stream);
        if (r.stream && !req.hasRawHeader("Accept-Encoding"))
            req.setRawHeader("Accept-Encoding", "identity");
        req.setTransferTimeout(r.stream ? 0 : static_cast<int>(r.timeout.count()));
        if (req.url().scheme() == QLatin1String("https"))
            req.setSslConfiguration(sslConfiguration(r.tls));
        const QByteArray method = QByteArray::fromStdString(r.method);
        QNetworkReply* reply = nullptr;
        if (method == "GET")
            reply = m_nam.get(req);
        else
            reply = m_nam.sendCustomRequest(req, method, QByteArray::fromStdString(r.body));
        m_replies.insert(id, reply);
        auto headDone = std::make_shared<bool>(false);
        auto head = [reply, sink, headDone] {
            const QVariant status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
            if (*headDone || !status.isValid())
                return;
            *headDone = true;
            HttpHeaders headers;
            for (const auto& [name, value] : reply->rawHeaderPairs())
                headers.emplace_back(name.toLower().toStdString(), value.toStdString());
            sink->onHead(status.toInt(), std::move(headers));
        };
        connect(reply, &QNetworkReply::metaDataChanged, this, head);
        connect(reply, &QNetworkReply::readyRead, this, [reply, sink, head] {
            head();
            const QByteArray bytes = reply->readAll();
            if (!bytes.isEmpty())
                sink->onData(std::string_view(bytes.constData(), bytes.size()));
        });
        connect(reply, &QNetworkReply::finished, this, [this, id, reply, sink, head, headDone] {
            m_replies.remove(id);
            reply->deleteLater();
            const auto e = reply->error();
            if (e == QNetworkReply::NoError
                || (isHttpStatusError(e)
                    && !reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).isNull())) {
                head();
                const QByteArray rest = reply->readAll();
                if (!rest.isEmpty())
                    sink->onData(std::string_view(rest.constData(), rest.size()));
                sink->onDone(std::nullopt);
                return;
            }
            sink->onDone(errorFrom(e, reply->errorString()));
        });
        // Qt Network has no connect timeout of its own: a head must come within connectTimeout.
        QPointer<QNetworkReply> guard(reply);
        QTimer::singleShot(r.connectTimeout, this, [this, id, guard, sink, headDone] {
            if (!guard || *headDone || m_replies.value(id) != guard)
                return;
            m_replies.remove(id);
            guard->disconnect(this);
            guard->abort();
            guard->deleteLater();
            sink->onDone(Error { ErrorCode::Timeout, "connection timed out", 0, -1 });
        });
    }

    void cancel(RequestId id)
    {
        QNetworkReply* reply = m_replies.take(id);
        if (!reply)
            return;
        // Intentional: disconnected first, so the abort reports nothing.
        reply->disconnect(this);
        reply->abort();
        reply->deleteLater();
    }

private:
    QNetworkAccessManager m_nam { this };
    QHash<RequestId, QNetworkReply*> m_replies;
};

QtNetworkBackend::QtNetworkBackend()
    : m_thread(std::make_unique<QThread>())
    , m_worker(new Worker)
{
    m_thread->setObjectName(QStringLiteral("livecomments-qtnetwork"));
    m_worker->moveToThread(m_thread.get());
    m_thread->start();
}

QtNetworkBackend::~QtNetworkBackend()
{
    Worker* worker = m_worker;
    QMetaObject::invokeMethod(
        worker, [worker] { delete worker; }, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
}

void QtNetworkBackend::start(
    RequestId id, HttpBackendRequest request, std::shared_ptr<HttpBackendSink> sink)
{
    Worker* worker = m_worker;
    QMetaObject::invokeMethod(
        worker,
        [worker, id, request = std::move(request), sink = std::move(sink)]() mutable {
            worker->start(id, request, std::move(sink));
        },
        Qt::QueuedConnection);
}

void QtNetworkBackend::cancel(RequestId id)
{
    Worker* worker = m_worker;
    QMetaObject::invokeMethod(
        worker, [worker, id] { worker->cancel(id); }, Qt::QueuedConnection);
}

} // namespace livecomments::qt

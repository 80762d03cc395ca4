"""The adapter's default config template and its dashboard form (zh-CN first)."""

from __future__ import annotations

from typing import Any

from ..asgi_app.settings import ADAPTER_TYPE, DEFAULTS

# Field -> (zh-CN description, zh-CN hint, en-US description, en-US hint, form type)
_FIELDS: dict[str, tuple[str, str, str, str, str]] = {
    "hep_api_endpoint": (
        "接口路径",
        "客户端 POST 消息的路径，挂在 /api/plug 之下，默认 /v1/chat。",
        "API path",
        "Where clients POST messages, under /api/plug (default /v1/chat).",
        "string",
    ),
    "hep_api_key": (
        "API 密钥",
        "留空保存即吊销所有旧密钥并自动生成新密钥；只对本接口有效，不能登录管理面板。",
        "API key",
        "Clear and save to revoke every earlier key and generate a new one; "
        "valid for this endpoint only, never a dashboard login.",
        "string",
    ),
    "hep_api_key_ttl": (
        "密钥有效期（秒）",
        "新密钥的有效期，默认 604800（7 天）。",
        "Key lifetime (s)",
        "Lifetime of a new key, default 604800 (7 days).",
        "string",
    ),
    "hep_callback_switch": (
        "回调模式",
        "开启后请求立即返回，回复推送到回调地址；不再使用响应缓存。",
        "Callback mode",
        "When on, requests return at once and replies are POSTed to the callback URL.",
        "bool",
    ),
    "hep_callback_url": (
        "回调地址",
        "回调模式下接收回复的 http(s) 地址。",
        "Callback URL",
        "The http(s) URL that receives replies in callback mode.",
        "string",
    ),
    "hep_cache_size": (
        "响应缓存条数",
        "按 msg_id 缓存回复的最大条数，默认 4096。",
        "Response cache size",
        "How many msg_id records the response cache holds (default 4096).",
        "string",
    ),
    "hep_cache_ttl": (
        "响应缓存时间（秒）",
        "回复完成后在缓存中保留的秒数，默认 300。",
        "Response cache TTL (s)",
        "Seconds a finished reply stays readable (default 300).",
        "string",
    ),
    "hep_wait_timeout": (
        "同步等待时间（秒）",
        "POST 最多等待这么久；未完成则返回 202 和已到达的回复，默认 30。",
        "Wait timeout (s)",
        "How long a POST waits before answering 202 with what has arrived (default 30).",
        "string",
    ),
    "hep_reply_deadline": (
        "处理截止时间（秒）",
        "超过这么久仍未完成的请求会被标记为完成（done），默认 300。",
        "Reply deadline (s)",
        "After this long an unfinished request is marked done anyway (default 300).",
        "string",
    ),
    "hep_queue_size": (
        "同时处理的消息上限",
        "已接收但 AstrBot 尚未处理完的消息上限（排队中和处理中），"
        "达到后新消息返回 503，默认 1000。",
        "Messages in progress",
        "Messages accepted but not yet finished by AstrBot (queued or in the pipeline); "
        "at this many, new ones get 503 (default 1000).",
        "string",
    ),
    "hep_log_max_bytes": (
        "审计日志大小上限（字节）",
        "插件数据目录下 audit.log 超过此大小即轮转，默认 10485760（10 MiB）。",
        "Audit log size (bytes)",
        "audit.log in the plugin's data directory rotates past this size (default 10 MiB).",
        "string",
    ),
    "hep_log_backups": (
        "审计日志保留份数",
        "轮转后保留的旧文件数（audit.log.1 …），默认 5，至少 1。",
        "Audit log backups",
        "Rotated files kept (audit.log.1 …), default 5, at least 1.",
        "string",
    ),
    "hep_log_content": (
        "审计日志记录消息内容",
        "开启后审计日志记录消息文本（截断到 200 字）；默认关闭。密钥与签名永不记录。",
        "Log message content",
        "When on, the audit trail includes message text (truncated to 200 chars); "
        "off by default. Keys and signatures are never logged.",
        "bool",
    ),
    "hep_public_base_url": (
        "公开访问地址",
        "回复中图片、语音、文件链接使用的地址前缀，如 https://bot.example.com；留空则使用请求本身的地址。",
        "Public base URL",
        "Origin used in links to served images, audio and files, e.g. https://bot.example.com; "
        "empty = the origin the client called.",
        "string",
    ),
    "hep_show_tool_calls": (
        "显示工具调用状态",
        "开启后，AstrBot 的工具调用状态消息以 tool_call 类型返回给客户端（默认关闭）。",
        "Show tool-call status",
        "When on, AstrBot's tool-call status messages reach clients as tool_call items "
        "(off by default).",
        "bool",
    ),
    "hep_show_reasoning": (
        "显示思考过程",
        "开启后，模型的思考内容以 reasoning 类型返回给客户端（默认关闭）。",
        "Show reasoning",
        "When on, the model's reasoning text reaches clients as reasoning items (off by default).",
        "bool",
    ),
    "hep_files_max_mb": (
        "文件缓存上限（MB）",
        "为客户端提供下载的本地文件（文转图、语音、生成的文件）最多占用的磁盘空间，默认 256。",
        "File store limit (MB)",
        "Disk space for local files served to clients (text-to-image, TTS, generated files); "
        "default 256.",
        "string",
    ),
    "hep_callback_secret": (
        "回调签名密钥",
        "whsec_ 开头，用于按 Standard Webhooks 签名回调（webhook-signature 头）；"
        "开启回调模式且留空时自动生成。接收方用它验证签名。",
        "Callback signing secret",
        "whsec_..., signs every callback per Standard Webhooks (webhook-signature header); "
        "generated when empty and callback mode is on. Receivers verify with it.",
        "string",
    ),
    "hep_callback_timeout": (
        "回调超时（秒）",
        "每次回调请求的超时，默认 10。",
        "Callback timeout (s)",
        "Timeout of one callback attempt (default 10).",
        "string",
    ),
    "hep_callback_retries": (
        "回调重试次数",
        "首次失败后的重试次数，默认 3；用尽后进入死信表，可重放。",
        "Callback retries",
        "Retries after a failed first attempt (default 3); then the delivery becomes "
        "a dead letter that can be replayed.",
        "string",
    ),
    "hep_callback_backoff": (
        "回调重试间隔（秒）",
        "第一次重试前的等待，之后每次翻倍（带随机抖动），默认 1。",
        "Callback backoff (s)",
        "Pause before the first retry; doubles for each retry, with jitter (default 1).",
        "string",
    ),
    "hep_callback_backoff_max": (
        "回调最长间隔（秒）",
        "重试等待的上限，也是接收方 Retry-After 的上限，默认 60。",
        "Callback max backoff (s)",
        "Longest pause between retries, also the cap on a receiver's Retry-After (default 60).",
        "string",
    ),
    "hep_outbox_size": (
        "回调待投递上限",
        "未确认的回调达到此数时，新消息返回 503（从不丢弃已有回调），默认 10000。",
        "Callback outbox size",
        "When this many callbacks are pending, new messages get 503 "
        "(queued ones are never dropped); default 10000.",
        "string",
    ),
    "hep_key_grace": (
        "旧密钥宽限期（秒）",
        "刷新密钥后，旧密钥继续有效的秒数，默认 60；0 表示立即失效。",
        "Old key grace period (s)",
        "After a refresh the previous key keeps working this long (default 60; 0 = at once).",
        "string",
    ),
    "hep_max_body_bytes": (
        "请求体上限（字节）",
        "超过此大小的请求返回 413，默认 1048576（1 MiB）。",
        "Max request body (bytes)",
        "Larger request bodies get 413 (default 1048576, 1 MiB).",
        "string",
    ),
    "hep_rate_limit_per_key": (
        "每密钥限流（次/分钟）",
        "每个 API 密钥每分钟最多请求数（也是突发上限，刷新不重置），超出返回 429；"
        "0 表示不限，默认 600。",
        "Rate limit per key (req/min)",
        "Requests per minute per API key (also the burst); over it → 429. 0 = off, default 600.",
        "string",
    ),
    "hep_rate_limit_per_sender": (
        "每发送者限流（条/分钟）",
        "每个 sender_id 每分钟最多新消息数（也是突发上限），超出返回 429；0 表示不限，默认 60。",
        "Rate limit per sender (msg/min)",
        "New messages per minute per sender_id (also the burst); over it → 429. "
        "0 = off, default 60.",
        "string",
    ),
}

DEFAULT_CONFIG_TEMPLATE: dict[str, Any] = {
    "id": ADAPTER_TYPE,
    "type": ADAPTER_TYPE,
    "enable": False,
    **DEFAULTS,
}

CONFIG_METADATA: dict[str, dict[str, Any]] = {
    name: {"description": zh, "hint": zh_hint, "type": kind}
    for name, (zh, zh_hint, _en, _en_hint, kind) in _FIELDS.items()
}

I18N_RESOURCES: dict[str, dict[str, Any]] = {
    "zh-CN": {name: {"description": f[0], "hint": f[1]} for name, f in _FIELDS.items()},
    "en-US": {name: {"description": f[2], "hint": f[3]} for name, f in _FIELDS.items()},
}

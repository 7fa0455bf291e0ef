"""Settings for the consent console, read from the environment.

Every variable is documented in README.md. Readers in campaign.env fail
loudly on a bad value instead of falling back silently.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from campaign.env import env_bool, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

# Local state (the SQLite file, collected static files) lives here, ignored
# by git.
VAR_DIR = BASE_DIR / "var"

# pytest (8.2 and later) sets PYTEST_VERSION while a test session runs.
TESTING = "PYTEST_VERSION" in os.environ

DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off."
        )
    SECRET_KEY = "insecure-key-for-local-debug-and-tests-only-never-in-production"
# Former keys, still accepted when checking signatures: links in messages
# already sent (unsubscribe links never expire) outlive a key rotation.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else []
)

# Public base of links in messages, e.g. https://consent.example.com
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "anymail",
    "consent",
    "delivery",
    "delivery.quarantine",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session: it drops cookies holding a NUL character.
    "campaign.middleware.RejectMalformedRequestMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database outage answers "try again" (503), never a 500.
    "campaign.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "campaign.urls"
WSGI_APPLICATION = "campaign.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL in production, an SQLite file for a local run.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL, conn_max_age=60, conn_health_checks=True
            )
        }
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not usable: {exc}") from None
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                # Writers queue instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not memory, so a Celery worker started by a test (in
            # another process) sees the test database; one per test run.
            "TEST": {
                "NAME": Path(tempfile.gettempdir())
                / f"consent-test-{os.getpid()}.sqlite3"
            },
        }
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or VAR_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files need `collectstatic`; a local run and the
        # tests serve the source files through the finders instead.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}

# Without collectstatic (a local run, the tests), serve from the finders.
WHITENOISE_USE_FINDERS = DEBUG or TESTING

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# E-mail: SMTP when EMAIL_HOST is set, the console otherwise.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Campaign <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Phone numbers written without a country code are read in this region.
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "US").upper()

# Quarantine thresholds (DESIGN.md, "Quarantine rules").
QUARANTINE_SOFT_ERROR_LIMIT = env_int("QUARANTINE_SOFT_ERROR_LIMIT", 5, minimum=1)
QUARANTINE_SOFT_ERROR_GAP_HOURS = env_int(
    "QUARANTINE_SOFT_ERROR_GAP_HOURS", 24, minimum=0
)
QUARANTINE_ERROR_RESET_DAYS = env_int("QUARANTINE_ERROR_RESET_DAYS", 10, minimum=1)
QUARANTINE_MAILBOX_FULL_RESET_DAYS = env_int(
    "QUARANTINE_MAILBOX_FULL_RESET_DAYS", 30, minimum=1
)

# Deliveries (delivery.sending): recipients per batch (one mail connection
# each), recipients marked "being sent" at a time, and how long a batch's
# claim lasts before another run may take its unsent recipients over.
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 500, minimum=1)
DELIVERY_SEND_SLICE = env_int("DELIVERY_SEND_SLICE", 20, minimum=1)
DELIVERY_CLAIM_TIMEOUT_MINUTES = env_int(
    "DELIVERY_CLAIM_TIMEOUT_MINUTES", 30, minimum=1
)
# The mailbox of the mailto: in List-Unsubscribe; empty: unsubscribe@ at the
# domain of DEFAULT_FROM_EMAIL.
UNSUBSCRIBE_MAILTO = env_str("UNSUBSCRIBE_MAILTO")
# Dotted path of the class that sends SMS (delivery.sms); prints by default.
SMS_BACKEND = env_str("SMS_BACKEND", "delivery.sms.ConsoleSmsBackend")

# Celery: with no broker, delivery batches run in the calling process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL")
if TESTING:
    # Tests send in-process even where CI exports REDIS_URL; tests/scale
    # points sending at the broker itself.
    CELERY_BROKER_URL = ""
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# E-mail provider webhooks (django-anymail): "user:password" for basic auth.
ANYMAIL = {"WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET") or None}
# Providers that sign their webhook calls need their key; without it their
# webhook URL answers 503 (see delivery/quarantine/webhook_urls.py).
for _key in (
    "MAILGUN_WEBHOOK_SIGNING_KEY",
    "MAILERSEND_WEBHOOK_SIGNING_SECRET",
    "MANDRILL_WEBHOOK_KEY",
    "POSTAL_WEBHOOK_KEY",
    "RESEND_SIGNING_SECRET",
):
    if env_str(f"ANYMAIL_{_key}"):
        ANYMAIL[_key] = env_str(f"ANYMAIL_{_key}")

# HTTPS: on by default in production, off for a local run and the tests.
HTTPS = env_bool("DJANGO_HTTPS", default=not (DEBUG or TESTING))
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("DJANGO_BEHIND_PROXY", default=False)
    else None
)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# A refused form is a page in the visitor's language, not Django's own.
CSRF_FAILURE_VIEW = "consent.views.csrf_failure"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "filters": {
        "no_landing_tokens": {"()": "campaign.log_filters.RedactLandingTokens"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django logs the full path of a 4xx request, which for landing pages
        # carries a token; our views log what matters without it.
        "django.request": {"level": "ERROR", "filters": ["no_landing_tokens"]},
        # flufl.bounce logs every detector it tries, for every message.
        "flufl.bounce": {"level": "WARNING"},
    },
}

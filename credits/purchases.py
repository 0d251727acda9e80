"""Buying credit packs and time passes: Checkout in payment mode (one payment, no
subscription), applied from the `checkout.session.completed` webhook; and automatic top-ups,
an off-session PaymentIntent on the card the first purchase saved."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Account, User
from accounts.signals import account_policy_changed
from billing import gateway
from billing.flows import ensure_customer, tax_params
from billing.gateway import BillingError
from catalog.models import CreditPack, Plan
from credits import ledger
from credits.models import CreditWallet, EntryKind, TimePass, TopUp, TopUpStatus

log = logging.getLogger(__name__)
# The metadata a payment carries so the webhook knows what it bought.
KIND, ITEM, ACCOUNT = "tollgate_purchase", "tollgate_item", "account_id"


def start_purchase(
    account: Account,
    user: User,
    kind: str,
    item: CreditPack | Plan,
    success_url: str,
    cancel_url: str,
) -> str:
    """A payment-mode Checkout Session for a credit pack (kind "credits") or a time pass
    ("pass"); returns its URL. Credits save the card for automatic top-ups."""
    customer = ensure_customer(account, user.email)
    price = item.stripe_price_id if isinstance(item, CreditPack) else item.stripe_pass_price_id
    metadata = {KIND: kind, ITEM: item.slug, ACCOUNT: str(account.pk)}
    payment_data: dict[str, Any] = {"metadata": metadata}
    if kind == "credits":
        payment_data["setup_future_usage"] = "off_session"
    params = {
        "mode": "payment",
        "customer": customer.stripe_id,
        "client_reference_id": str(account.pk),
        "line_items": [{"price": price, "quantity": 1}],
        "payment_intent_data": payment_data,
        "metadata": metadata,
        "success_url": success_url,
        "cancel_url": cancel_url,
        **tax_params(),
    }
    session = gateway.create_checkout_session(params, key=None)
    audit.record(account, f"credits.{kind}_checkout_started", actor=user, target=item.slug)
    return str(session["url"])


def apply_payment_session(session: dict[str, Any]) -> bool:
    """A completed payment-mode session: grant the pack or start the pass, once per session."""
    metadata = session.get("metadata") or {}
    if session.get("mode") != "payment" or session.get("payment_status") != "paid":
        return False
    account = buyer(metadata, session.get("customer"))
    if account is None or metadata.get(KIND) not in ("credits", "pass"):
        log.warning("payment session %s names no purchase of ours", session.get("id"))
        return False
    amount = Decimal(session.get("amount_total") or 0) / 100
    if metadata[KIND] == "credits":
        pack = CreditPack.objects.filter(slug=metadata.get(ITEM, "")).first()
        if pack is None:
            return False
        intent = gateway.retrieve_payment_intent(session["payment_intent"])
        entry = ledger.grant_pack(
            account,
            pack,
            EntryKind.PURCHASE,
            session["id"],
            amount,
            payment_method=str(intent.get("payment_method") or ""),
        )
        granted = entry is not None
    else:
        plan = Plan.objects.filter(slug=metadata.get(ITEM, ""), pass_days__isnull=False).first()
        if plan is None:
            return False
        granted = start_pass(account, plan, session["id"], amount) is not None
    if granted:
        transaction.on_commit(
            lambda: account_policy_changed.send(sender=TimePass, account_id=account.pk)
        )
    return True


def buyer(metadata: dict[str, Any], customer_id: Any) -> Account | None:
    """The account a payment names, if the paying Stripe customer is that account's."""
    account_id = str(metadata.get(ACCOUNT) or "")
    if not account_id.isdigit():
        return None
    return Account.objects.filter(
        pk=int(account_id), billing_customer__stripe_id=str(customer_id or "")
    ).first()


def start_pass(account: Account, plan: Plan, session_id: str, amount: Decimal) -> TimePass | None:
    """A pass from now (or from the end of a running pass of the same plan: a renewal bought
    early adds its days); None if this session started one before."""
    assert plan.pass_days is not None
    now = timezone.now()
    try:
        with transaction.atomic():
            Account.objects.select_for_update().get(pk=account.pk)
            running = TimePass.objects.filter(account=account, plan=plan, ends_at__gt=now).first()
            starts = running.ends_at if running else now
            return TimePass.objects.create(
                account=account,
                plan=plan,
                starts_at=starts,
                ends_at=starts + timedelta(days=plan.pass_days),
                checkout_session_id=session_id,
                amount=amount,
                currency=plan.currency,
            )
    except IntegrityError:
        return None


def top_up(account_id: int) -> str:
    """Charge the wallet's top-up pack on the saved card, if automatic top-up is on: one
    attempt per dip (a pending one is charged again under its own idempotency key, so a retry
    never pays twice); the pack is granted when the PaymentIntent succeeds."""
    with transaction.atomic():
        wallet = CreditWallet.objects.locked(account_id)
        if wallet is None or not wallet.auto_topup or wallet.topup_pack is None:
            return "off"
        if not wallet.stripe_payment_method_id:
            return "no card"
        attempt = TopUp.objects.filter(account_id=account_id, status=TopUpStatus.PENDING).first()
        if attempt is None:
            wallet.topup_pending = True
            wallet.save(update_fields=["topup_pending"])
            attempt = TopUp.objects.create(account_id=account_id, pack=wallet.topup_pack)
    return charge(attempt, wallet)


def charge(attempt: TopUp, wallet: CreditWallet) -> str:
    pack = attempt.pack
    customer = ensure_customer(wallet.account, "")
    metadata = {KIND: "topup", ITEM: pack.slug, ACCOUNT: str(wallet.account_id)}
    params = {
        "amount": int(pack.price * 100),
        "currency": pack.currency,
        "customer": customer.stripe_id,
        "payment_method": wallet.stripe_payment_method_id,
        "metadata": metadata,
        "description": f"Automatic top-up: {pack.name}",
    }
    try:
        intent = gateway.charge_off_session(params, key=f"credits-topup:{attempt.pk}")
    except BillingError as error:
        if not error.permanent:
            raise  # the task retries under the same idempotency key
        return declined(attempt, wallet, error)
    apply_topup_intent(intent)
    return "charged"


def declined(attempt: TopUp, wallet: CreditWallet, error: BillingError) -> str:
    """The bank said no: automatic top-up turns off (a person must act) and the owners hear."""
    from credits import notices

    with transaction.atomic():
        TopUp.objects.filter(pk=attempt.pk).update(status=TopUpStatus.FAILED, error=str(error))
        CreditWallet.objects.filter(pk=wallet.pk).update(auto_topup=False, topup_pending=False)
        notices.topup_declined(wallet.account, attempt, str(error))
    return "declined"


def apply_topup_intent(intent: dict[str, Any]) -> bool:
    """A succeeded top-up PaymentIntent (from the charge or its webhook): grant its pack once."""
    metadata = intent.get("metadata") or {}
    if intent.get("status") != "succeeded" or metadata.get(KIND) != "topup":
        return False
    account = buyer(metadata, intent.get("customer"))
    pack = CreditPack.objects.filter(slug=metadata.get(ITEM, "")).first()
    if account is None or pack is None:
        return False
    with transaction.atomic():
        ledger.grant_pack(
            account, pack, EntryKind.TOPUP, intent["id"], Decimal(intent["amount"]) / 100
        )
        TopUp.objects.filter(account=account, status=TopUpStatus.PENDING).update(
            status=TopUpStatus.SUCCEEDED, payment_intent_id=intent["id"]
        )
    return True

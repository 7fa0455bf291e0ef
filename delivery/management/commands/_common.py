"""What the delivery commands share: finding the delivery they are given."""

from django.core.management.base import CommandError

from delivery.models import Delivery


def delivery_or_error(delivery_id: int) -> Delivery:
    delivery = Delivery.objects.select_related("service").filter(pk=delivery_id).first()
    if delivery is None:
        raise CommandError(f"ID: there is no delivery with id {delivery_id}.")
    return delivery

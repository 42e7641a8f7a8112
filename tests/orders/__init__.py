"""After 去支付 (sbweb/views/orders.py, sbweb/views/notify.py, sbweb/payments/orders.py): the order state
graph and the payment guarantees."""

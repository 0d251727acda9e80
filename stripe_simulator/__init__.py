"""An offline Stripe for development and tests: the subset of Stripe's API the portal uses.

It runs as its own process (`manage.py stripe_simulator`, started by `make run` and the
end-to-end tests; unit tests call the same WSGI app in their own process) and imports nothing
from the portal. `store` holds the objects; one module per resource (customers, products and
prices, meters, checkout, subscriptions, invoices, portal) gives them their life cycles; `app`
is the HTTP face, `stripe_params` and `params` check requests, `pages` the hosted pages,
`webhooks` the delivery.
"""

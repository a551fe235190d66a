"""Domain services: holds, best available, orders, payments, tickets, expiry.

Nothing here knows about GraphQL; services return models or raise
`seatline.booking.errors.BookingError` subclasses.
"""

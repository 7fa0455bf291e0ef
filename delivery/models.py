# Models of deliveries land with the delivery issue.

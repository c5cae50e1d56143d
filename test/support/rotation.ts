/** A second task-webhook secret, configured after the first, as during a rotation. */
export const rotatedWebhookSecret = "whsec_cm90YXRlZC1zZWNyZXQtZm9yLXRlc3RzLW9ubHktMzI=";

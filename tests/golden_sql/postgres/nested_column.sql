SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  (
    "u"."loyalty_tier" = 'gold'
  )
  AND (
    "u"."custom_lifetime_value" >= 50
  )
  AND (
    CAST('2026-11-09 00:00:00+00:00' AS TIMESTAMPTZ) < "u"."last_seen_at"
    AND "u"."last_seen_at" <= CAST('2026-11-16 00:00:00+00:00' AS TIMESTAMPTZ)
  )

SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  (
    (
      "u"."trial_ends" > CAST('2026-12-05 00:00:00+00:00' AS TIMESTAMPTZ)
    )
    AND (
      "u"."trial_ends" < CAST('2027-01-01 00:00:00+00:00' AS TIMESTAMPTZ)
    )
  )
  OR (
    CAST('2026-11-28 00:00:00+00:00' AS TIMESTAMPTZ) < "u"."trial_ends"
    AND "u"."trial_ends" <= CAST('2026-11-29 00:00:00+00:00' AS TIMESTAMPTZ)
  )

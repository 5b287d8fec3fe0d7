// Generates testdata/cassandra/java-segments.json: Java 17's String.toLowerCase() (default locale "en")
// and String.hashCode() for ids that exercise the non-ASCII corner cases of the metajournal segment
// (SegmentNr.metaJournal in evolution-gaming/kafka-journal: abs(id.toLowerCase.hashCode.toLong % segments)).
//
// Run: java -Duser.language=en -Duser.country=US testdata/cassandra/JavaSegments.java > testdata/cassandra/java-segments.json
import java.util.*;

public class JavaSegments {
    static String esc(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) {
        String[] ids = {
            "", "id", "ID", "order-42", "Order-42", "journal ID", "ключ", "КЛЮЧ", "Straße", "STRASSE", "ẞ",
            "😀emoji", "𐐀𐐁", "İstanbul", "ISTANBUL", "ıi", "ΣΑΣ", "Σ", "ΑΣ", "ΑΣ ", "ΑΣ-Α", "ΑΣ-", "ΑΣ1",
            "ΑΣ1Α", "Α1Σ", "ΑΣ.", "ΑΣ.Α", "ΑΣ'Α", "ΑΣ_Α", "ΑΣ_", "ΑΣ\u0301", "ΑΣ\u0301Α", "Α\u0301Σ",
            "ΑΣΑ", " Σ", "-Σ", "ΟΔΥΣΣΕΥΣ", "user-ΣΑΣ", "ΣΑΣ-ΣΑΣ", "ΑΣ\u0345", "\u0345Σ", "Σ\u0345",
            "1Σ", "#1Σ", "ΑΣ--Α", "ΑΣ..Α", "ΑΣ,Α", "ΑΣ:Α", "ΑΣ\u00adΑ", "ΑΣ\u2027Α", "Α.Σ", "Α-Σ", "Α'Σ",
            "Α_Σ", "Α Σ", "ΑΣ\u200dΑ", "ᾼΣ", "ǅΣ", "ʰΣ", "Ⅰ\u03a3", "ⒶΣ", "ΑΣ あ", "あΣ", "ΑΣあ", "漢Σ",
            "ΑΣ\u0964", "ΑΣ$", "\u0130\u0130", "Ǆǅǆ", "ΑΣ1.2", "ΑΣ1.Α", "ΑΣ1,2Α", "ΑΣ1%", "ΑΣ1%Α",
            "ΑΣ__Α", "Α__Σ", "ΑΣ_1Α", "ΑΣ-1Α", "ΑΣ\u00b7Α", "ΑΣ\u2019Α", "ΑΣ\u2010Α", "ΑΣ\"Α", "ΑΣ\u00a0Α",
            "ΑΣ\tΑ", "ΑΣ\u0903Α", "ΑΣ\u0903", "ΑΣ\u02c2Α", "ΑΣ\u0660Α", "ΑΣ1'2Α", "ΑΣ1.2Α", "$1Σ", ".1Σ",
            "ΑΣ\u066bΑ", "Σ\u0301", "ΑΣ\u20dd", "ΑΣ\u200bΑ", "ΑΣ\u00adΣ", "\u00adΣ", "ΑΣ\u0e31Α",
            "ΑΣ\u203fΑ", "ΑΣ.\u0301Α", "ΑΣ\u0301.Α", "Α1.Σ", "Α1-Σ", "ΑΣ\u3005", "ΑΣ\u30a1Α", "Α\u30fcΣ",
            "ΑΣ\u02b9Α", "\u2c00Σ", "ΑΣ\ufeffΑ", "ΑΣ^Α", "ΑΣ\u2028Α", "ΑΣ\r\nΑ", "Σ1Σ", "ΑΣ&Α", "ΑΣ1&Α",
            "ΑΣ\u0964Α", "ΑΣ\u09641Α",
            "\ud83d\ude00Σ", "A\u0301", "Ω", "\u2126", "K\u212a", "\u1e9e", "ΣΑΣ ΣΑΣ",
        };
        System.out.println("[");
        for (int i = 0; i < ids.length; i++) {
            String id = ids[i];
            String lower = id.toLowerCase();
            int h = lower.hashCode();
            System.out.printf("  {\"id\": %s, \"lower\": %s, \"hash\": %d, \"segment_10000\": %d, \"segment_100\": %d}%s%n",
                esc(id), esc(lower), h, Math.abs((long) h % 10000), Math.abs((long) h % 100), i + 1 < ids.length ? "," : "");
        }
        System.out.println("]");
    }
}
